"""Sequential: a stack of blocks used as a GPT's contextualizer."""
from typing import Sequence

from flax import nnx


class Sequential(nnx.Sequential):
    """flax.nnx.Sequential built from a list (like its torch twin); train()/eval() reach every layer, so
    __call__ needs only x."""

    def __init__(self, layers: Sequence[nnx.Module]):
        super().__init__(*layers)

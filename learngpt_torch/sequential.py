"""Sequential: a stack of blocks used as a GPT's contextualizer."""
from typing import Sequence

from torch import nn


class Sequential(nn.Sequential):
    """torch.nn.Sequential built from a list (like its Flax twin); train()/eval() reach every layer, so
    forward needs only x."""

    def __init__(self, layers: Sequence[nn.Module]):
        super().__init__(*layers)

"""Sequential: a stack of blocks used as a GPT's contextualizer."""
from typing import Sequence

import jax
from flax import linen as nn


class Sequential(nn.Module):
    """flax.linen.Sequential hands extra arguments to its first layer only; this one gives `deterministic` to
    every layer."""

    layers: Sequence[nn.Module]

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        for layer in self.layers:
            x = layer(x, deterministic)  # (B, T, C) -> (B, T, C)
        return x

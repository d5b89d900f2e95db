"""HeadVer1: week 1's first contextualizer, each position the mean of the inputs up to it, written as an
explicit loop (the slow baseline)."""
import jax
import jax.numpy as jnp
from flax import linen as nn

from learngpt import checks


class HeadVer1(nn.Module):
    """Causal running mean over time, one position at a time in a Python loop (the batch rides along); no
    parameters."""

    block_size: int
    embed_size: int

    def __post_init__(self):
        checks.check_sizes("HeadVer1", block_size=self.block_size, embed_size=self.embed_size)
        super().__post_init__()

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        checks.check_features(x.shape, x.dtype, self.embed_size, "HeadVer1")
        checks.check_sequence(x.shape, self.block_size, "HeadVer1")
        B, T, C = x.shape
        rows = []
        for t in range(T):
            xprev = x[:, : t + 1]  # (B, t + 1, C): this position and every one before it
            rows.append(xprev.mean(axis=1))  # (B, t + 1, C) -> (B, C)
        out = jnp.stack(rows, axis=1)  # T x (B, C) -> (B, T, C)
        return out

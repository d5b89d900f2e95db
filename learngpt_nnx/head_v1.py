"""HeadVer1: week 1's first contextualizer, each position the mean of the inputs up to it, written as an
explicit loop (the slow baseline)."""
import jax
import jax.numpy as jnp
from flax import nnx

from learngpt import checks


class HeadVer1(nnx.Module):
    """Causal running mean over time, one position at a time in a Python loop (the batch rides along); no
    parameters."""

    def __init__(self, block_size: int, embed_size: int):
        checks.check_sizes("HeadVer1", block_size=block_size, embed_size=embed_size)
        self.block_size, self.embed_size = block_size, embed_size

    def __call__(self, x: jax.Array) -> jax.Array:
        checks.check_features(x.shape, x.dtype, self.embed_size, "HeadVer1")
        checks.check_sequence(x.shape, self.block_size, "HeadVer1")
        B, T, C = x.shape
        rows = []
        for t in range(T):
            xprev = x[:, : t + 1]  # (B, t + 1, C): this position and every one before it
            rows.append(xprev.mean(axis=1))  # (B, t + 1, C) -> (B, C)
        out = jnp.stack(rows, axis=1)  # T x (B, C) -> (B, T, C)
        return out

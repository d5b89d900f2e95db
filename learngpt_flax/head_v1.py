"""HeadVer1: week 1's first contextualizer, each position the mean of the inputs up to it, written as explicit loops (the slow baseline)."""
import jax
import jax.numpy as jnp
from flax import linen as nn

from learngpt import checks


class HeadVer1(nn.Module):
    """Causal running mean over time, one (batch, position) at a time; no parameters."""

    block_size: int
    embed_size: int

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        checks.check_features(x.shape, self.embed_size, "HeadVer1")
        checks.check_sequence(x.shape, self.block_size, "HeadVer1")
        B, T, C = x.shape
        rows = []
        for b in range(B):
            for t in range(T):
                xprev = x[b, : t + 1]  # (t + 1, C): this position and every one before it
                rows.append(xprev.mean(axis=0))  # (t + 1, C) -> (C,)
        out = jnp.stack(rows).reshape(B, T, C)  # B * T x (C,) -> (B * T, C) -> (B, T, C)
        return out

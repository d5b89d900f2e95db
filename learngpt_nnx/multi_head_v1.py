"""MultiHeadVer1: n_heads HeadVer4 of head_size C / n_heads in a loop, concatenated, projected (why: several
heads)."""
import jax
import jax.numpy as jnp
from flax import nnx

from learngpt import checks
from learngpt_nnx.head_v4 import HeadVer4
from learngpt_nnx.layers import linear


class MultiHeadVer1(nnx.Module):
    """Multi-head attention as a loop over separate heads: the slow, readable version. Each head scales its
    scores by embed_size ** -0.5, the curriculum's scale (HeadVer4 says what the paper does)."""

    def __init__(self, block_size: int, embed_size: int, n_heads: int, *, rngs: nnx.Rngs):
        checks.check_sizes("MultiHeadVer1", block_size=block_size, embed_size=embed_size,
                           n_heads=n_heads)
        checks.check_divisible(embed_size, n_heads)
        self.block_size, self.embed_size, self.n_heads = block_size, embed_size, n_heads
        head_size = embed_size // n_heads
        self.heads = nnx.List(HeadVer4(block_size, embed_size, head_size, rngs=rngs) for _ in range(n_heads))
        self.proj = linear(embed_size, embed_size, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        out = jnp.concatenate([head(x) for head in self.heads], axis=-1)  # n_heads x (B, T, hs) -> (B, T, C)
        out = self.proj(out)  # (B, T, C) @ (C, C) -> (B, T, C)
        return out

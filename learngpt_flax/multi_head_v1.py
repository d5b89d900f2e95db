"""MultiHeadVer1: n_heads HeadVer4 of head_size C / n_heads in a loop, concatenated, projected (why: several
heads)."""
import jax
import jax.numpy as jnp
from flax import linen as nn

from learngpt import checks
from learngpt_flax.head_v4 import HeadVer4
from learngpt_flax.layers import linear


class MultiHeadVer1(nn.Module):
    """Multi-head attention as a loop over separate heads: the slow, readable version. Each head scales its
    scores by embed_size ** -0.5, the curriculum's scale (HeadVer4 says what the paper does)."""

    block_size: int
    embed_size: int
    n_heads: int

    def __post_init__(self):
        checks.check_sizes("MultiHeadVer1", block_size=self.block_size, embed_size=self.embed_size,
                           n_heads=self.n_heads)
        checks.check_divisible(self.embed_size, self.n_heads)
        super().__post_init__()

    def setup(self):
        head_size = self.embed_size // self.n_heads
        self.heads = [HeadVer4(self.block_size, self.embed_size, head_size) for _ in range(self.n_heads)]
        self.proj = linear(self.embed_size, self.embed_size)

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        out = jnp.concatenate([head(x) for head in self.heads], axis=-1)  # n_heads x (B, T, hs) -> (B, T, C)
        out = self.proj(out)  # (B, T, C) @ (C, C) -> (B, T, C)
        return out

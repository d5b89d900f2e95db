"""MultiHeadVer1 written another way: the heads stacked on a new axis, moved next to the features and merged
by a reshape (the same layout as concatenating along the last axis)."""
import jax.numpy as jnp
from flax import nnx

from learngpt_nnx.head_v4 import HeadVer4
from learngpt_nnx.layers import linear


class MultiHeadVer1(nnx.Module):
    def __init__(self, block_size: int, embed_size: int, n_heads: int, *, rngs: nnx.Rngs):
        self.block_size, self.embed_size, self.n_heads = block_size, embed_size, n_heads
        self.heads = nnx.List(HeadVer4(block_size, embed_size, embed_size // n_heads, rngs=rngs)
                              for _ in range(n_heads))
        self.proj = linear(embed_size, embed_size, rngs=rngs)

    def __call__(self, x):
        stacked = jnp.stack([head(x) for head in self.heads], axis=2)  # (B, T, nh, hs)
        B, T, nh, hs = stacked.shape
        return self.proj(stacked.reshape(B, T, nh * hs))

"""MultiHeadVer2: MultiHeadVer1's maths batched, one matmul for all heads (why: the same result, faster)."""
import jax
import jax.numpy as jnp
from flax import nnx

from learngpt import checks
from learngpt_nnx.layers import linear


class MultiHeadVer2(nnx.Module):
    """Multi-head attention with all heads in one tensor: query/key/value are single (C, C) maps. Scores are
    scaled by embed_size ** -0.5 as in MultiHeadVer1, the curriculum's scale (HeadVer4 says what the paper
    does)."""

    def __init__(self, block_size: int, embed_size: int, n_heads: int, *, rngs: nnx.Rngs):
        checks.check_sizes("MultiHeadVer2", block_size=block_size, embed_size=embed_size,
                           n_heads=n_heads)
        checks.check_divisible(embed_size, n_heads)
        self.block_size, self.embed_size, self.n_heads = block_size, embed_size, n_heads
        self.key = linear(embed_size, embed_size, bias=False, rngs=rngs)
        self.query = linear(embed_size, embed_size, bias=False, rngs=rngs)
        self.value = linear(embed_size, embed_size, bias=False, rngs=rngs)
        self.proj = linear(embed_size, embed_size, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        checks.check_features(x.shape, x.dtype, self.embed_size, "MultiHeadVer2")
        checks.check_sequence(x.shape, self.block_size, "MultiHeadVer2")
        B, T, C = x.shape
        nh, hs = self.n_heads, C // self.n_heads
        k = self.key(x).reshape(B, T, nh, hs)  # (B, T, C) @ (C, C) -> (B, T, C) -> (B, T, nh, hs)
        q = self.query(x).reshape(B, T, nh, hs)  # (B, T, C) @ (C, C) -> (B, T, C) -> (B, T, nh, hs)
        v = self.value(x).reshape(B, T, nh, hs)  # (B, T, C) @ (C, C) -> (B, T, C) -> (B, T, nh, hs)
        wei = jnp.einsum("bthd,bshd->bhts", q, k) * C ** -0.5  # (B,T,nh,hs) x (B,S,nh,hs) -> (B, nh, T, S)
        wei = jnp.where(jnp.tril(jnp.ones((T, T), dtype=bool)), wei, -jnp.inf)  # (B, nh, T, S): causal
        wei = jax.nn.softmax(wei, axis=-1)  # (B, nh, T, S): each row sums to 1
        self.attentions = nnx.Intermediate(wei)  # (B, nh, T, S)
        out = jnp.einsum("bhts,bshd->bthd", wei, v)  # (B, nh, T, S) x (B, S, nh, hs) -> (B, T, nh, hs)
        out = out.reshape(B, T, C)  # (B, T, nh, hs) -> (B, T, C): the heads side by side
        out = self.proj(out)  # (B, T, C) @ (C, C) -> (B, T, C)
        return out

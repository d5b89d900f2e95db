"""HeadVer3: HeadVer2's weights built as a masked softmax of zeros, the form that attention will fill with
learned scores (why: softmax)."""
import jax
import jax.numpy as jnp
from flax import nnx

from learngpt import checks


class HeadVer3(nnx.Module):
    """Causal running mean as softmax(zeros masked with -inf in the future) @ x; exposes the weights; no
    parameters."""

    def __init__(self, block_size: int, embed_size: int):
        checks.check_sizes("HeadVer3", block_size=block_size, embed_size=embed_size)
        self.block_size, self.embed_size = block_size, embed_size

    def __call__(self, x: jax.Array) -> jax.Array:
        checks.check_features(x.shape, x.dtype, self.embed_size, "HeadVer3")
        checks.check_sequence(x.shape, self.block_size, "HeadVer3")
        B, T, C = x.shape
        wei = jnp.zeros((T, T), dtype=x.dtype)  # (T, T): every pair equally interesting
        wei = jnp.where(jnp.tril(jnp.ones((T, T), dtype=bool)), wei, -jnp.inf)  # (T, T): no looking ahead
        wei = jax.nn.softmax(wei, axis=-1)  # (T, T): each row sums to 1, the future exactly 0
        self.attentions = nnx.Intermediate(wei)  # (T, T)
        out = wei @ x  # (T, T) @ (B, T, C) -> (B, T, C)
        return out

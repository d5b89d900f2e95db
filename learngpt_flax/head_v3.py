"""HeadVer3: HeadVer2's weights built as a masked softmax of zeros, the form that attention will fill with
learned scores (why: softmax)."""
import jax
import jax.numpy as jnp
from flax import linen as nn

from learngpt import checks


class HeadVer3(nn.Module):
    """Causal running mean as softmax(zeros masked with -inf in the future) @ x; exposes the weights; no
    parameters."""

    block_size: int
    embed_size: int

    def __post_init__(self):
        checks.check_sizes("HeadVer3", block_size=self.block_size, embed_size=self.embed_size)
        super().__post_init__()

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        checks.check_features(x.shape, x.dtype, self.embed_size, "HeadVer3")
        checks.check_sequence(x.shape, self.block_size, "HeadVer3")
        B, T, C = x.shape
        wei = jnp.zeros((T, T), dtype=x.dtype)  # (T, T): every pair equally interesting
        wei = jnp.where(jnp.tril(jnp.ones((T, T), dtype=bool)), wei, -jnp.inf)  # (T, T): no looking ahead
        wei = jax.nn.softmax(wei, axis=-1)  # (T, T): each row sums to 1, the future exactly 0
        self.sow("intermediates", "attentions", wei)  # (T, T)
        out = wei @ x  # (T, T) @ (B, T, C) -> (B, T, C)
        return out

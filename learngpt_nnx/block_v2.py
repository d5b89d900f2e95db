"""BlockVer2: BlockVer1 plus a residual connection around each part, so deep stacks still pass gradients (why:
residuals)."""
import jax
from flax import nnx

from learngpt_nnx.feed_forward import FeedForward


class BlockVer2(nnx.Module):
    """x + attention(x), then x + feed-forward(x)."""

    def __init__(self, head: nnx.Module, embed_size: int, *, rngs: nnx.Rngs):
        self.head = head
        self.ffwd = FeedForward(embed_size, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + self.head(x)  # (B, T, C) + (B, T, C) -> (B, T, C)
        x = x + self.ffwd(x)  # (B, T, C) + (B, T, C) -> (B, T, C)
        return x

"""BlockVer2: BlockVer1 plus a residual connection around each part, so deep stacks still pass gradients (why:
residuals)."""
import jax
from flax import linen as nn

from learngpt_flax.feed_forward import FeedForward


class BlockVer2(nn.Module):
    """x + attention(x), then x + feed-forward(x)."""

    head: nn.Module
    embed_size: int

    def setup(self):
        self.ffwd = FeedForward(self.embed_size)

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        x = x + self.head(x, deterministic)  # (B, T, C) + (B, T, C) -> (B, T, C)
        x = x + self.ffwd(x)  # (B, T, C) + (B, T, C) -> (B, T, C)
        return x

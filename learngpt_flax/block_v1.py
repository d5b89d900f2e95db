"""BlockVer1: attention, then a feed-forward, so each token computes on what it gathered (why: a feed-
forward)."""
import jax
from flax import linen as nn

from learngpt_flax.feed_forward import FeedForward


class BlockVer1(nn.Module):
    """Communication (attention) followed by computation (feed-forward)."""

    head: nn.Module
    embed_size: int

    def setup(self):
        self.ffwd = FeedForward(self.embed_size)

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        x = self.head(x, deterministic)  # (B, T, C) -> (B, T, C)
        x = self.ffwd(x)  # (B, T, C) -> (B, T, C)
        return x

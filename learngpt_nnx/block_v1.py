"""BlockVer1: attention, then a feed-forward, so each token computes on what it gathered (why: a feed-
forward)."""
import jax
from flax import nnx

from learngpt_nnx.feed_forward import FeedForward


class BlockVer1(nnx.Module):
    """Communication (attention) followed by computation (feed-forward)."""

    def __init__(self, head: nnx.Module, embed_size: int, *, rngs: nnx.Rngs):
        self.head = head
        self.ffwd = FeedForward(embed_size, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.head(x)  # (B, T, C) -> (B, T, C)
        x = self.ffwd(x)  # (B, T, C) -> (B, T, C)
        return x

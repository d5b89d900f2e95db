"""FeedForward: a position-wise MLP, so each token can compute on what attention gathered (why: a feed-
forward)."""
import jax
from flax import nnx

from learngpt import checks
from learngpt_nnx.layers import linear


class FeedForward(nnx.Module):
    """Linear(C, 4C) -> ReLU -> Linear(4C, C), applied to every position alike."""

    def __init__(self, embed_size: int, *, rngs: nnx.Rngs):
        checks.check_sizes("FeedForward", embed_size=embed_size)
        self.embed_size = embed_size
        self.net = nnx.Sequential(
            linear(embed_size, 4 * embed_size, rngs=rngs),  # (B, T, C) @ (C, 4C) -> (B, T, 4C)
            nnx.relu,  # (B, T, 4C)
            linear(4 * embed_size, embed_size, rngs=rngs),  # (B, T, 4C) @ (4C, C) -> (B, T, C)
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        checks.check_width(x.shape, x.dtype, self.embed_size, "FeedForward")
        return self.net(x)  # (B, T, C) -> (B, T, C)

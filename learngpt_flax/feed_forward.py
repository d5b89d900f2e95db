"""FeedForward: a position-wise MLP, so each token can compute on what attention gathered (why: a feed-
forward)."""
import jax
from flax import linen as nn

from learngpt import checks
from learngpt_flax.layers import linear


class FeedForward(nn.Module):
    """Linear(C, 4C) -> ReLU -> Linear(4C, C), applied to every position alike."""

    embed_size: int

    def __post_init__(self):
        checks.check_sizes("FeedForward", embed_size=self.embed_size)
        super().__post_init__()

    def setup(self):
        self.net = nn.Sequential([
            linear(self.embed_size, 4 * self.embed_size),  # (B, T, C) @ (C, 4C) -> (B, T, 4C)
            nn.relu,  # (B, T, 4C)
            linear(4 * self.embed_size, self.embed_size),  # (B, T, 4C) @ (4C, C) -> (B, T, C)
        ])

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        checks.check_width(x.shape, x.dtype, self.embed_size, "FeedForward")
        return self.net(x)  # (B, T, C) -> (B, T, C)

"""FeedForward: a position-wise MLP, so each token can compute on what attention gathered (why: a feed-
forward)."""
import jax
from flax import linen as nn

from learngpt_flax.layers import linear


class FeedForward(nn.Module):
    """Linear(C, 4C) -> ReLU -> Linear(4C, C), applied to every position alike."""

    embed_size: int

    def setup(self):
        self.net = nn.Sequential([
            linear(self.embed_size, 4 * self.embed_size),  # (B, T, C) @ (C, 4C) -> (B, T, 4C)
            nn.relu,  # (B, T, 4C)
            linear(4 * self.embed_size, self.embed_size),  # (B, T, 4C) @ (4C, C) -> (B, T, C)
        ])

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        return self.net(x)  # (B, T, C) -> (B, T, C)

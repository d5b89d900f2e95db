"""FeedForward: a position-wise MLP, so each token can compute on what attention gathered (why: a feed-
forward)."""
import torch
from torch import nn

from learngpt import checks
from learngpt_torch.layers import linear


class FeedForward(nn.Module):
    """Linear(C, 4C) -> ReLU -> Linear(4C, C), applied to every position alike."""

    def __init__(self, embed_size: int):
        super().__init__()
        checks.check_sizes("FeedForward", embed_size=embed_size)
        self.embed_size = embed_size
        self.net = nn.Sequential(
            linear(embed_size, 4 * embed_size),  # (B, T, C) @ (C, 4C) -> (B, T, 4C)
            nn.ReLU(),  # (B, T, 4C)
            linear(4 * embed_size, embed_size),  # (B, T, 4C) @ (4C, C) -> (B, T, C)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_width(x.shape, x.dtype, self.embed_size, "FeedForward")
        return self.net(x)  # (B, T, C) -> (B, T, C)

"""BlockVer1: attention, then a feed-forward, so each token computes on what it gathered (why: a feed-
forward)."""
import torch
from torch import nn

from learngpt_torch.feed_forward import FeedForward


class BlockVer1(nn.Module):
    """Communication (attention) followed by computation (feed-forward)."""

    def __init__(self, head: nn.Module, embed_size: int):
        super().__init__()
        self.head = head
        self.ffwd = FeedForward(embed_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)  # (B, T, C) -> (B, T, C)
        x = self.ffwd(x)  # (B, T, C) -> (B, T, C)
        return x

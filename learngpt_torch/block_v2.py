"""BlockVer2: BlockVer1 plus a residual connection around each part, so deep stacks still pass gradients (why:
residuals)."""
import torch
from torch import nn

from learngpt_torch.feed_forward import FeedForward


class BlockVer2(nn.Module):
    """x + attention(x), then x + feed-forward(x)."""

    def __init__(self, head: nn.Module, embed_size: int):
        super().__init__()
        self.head = head
        self.ffwd = FeedForward(embed_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.head(x)  # (B, T, C) + (B, T, C) -> (B, T, C)
        x = x + self.ffwd(x)  # (B, T, C) + (B, T, C) -> (B, T, C)
        return x

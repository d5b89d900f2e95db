"""BlockVer3: BlockVer2 with the curriculum's LayerNorm before each part (pre-norm), to keep deep stacks
trainable (why: LayerNorm)."""
import torch
from torch import nn

from learngpt_torch.feed_forward import FeedForward
from learngpt_torch.layer_norm import LayerNorm


class BlockVer3(nn.Module):
    """x + attention(ln1(x)), then x + feed-forward(ln2(x))."""

    def __init__(self, head: nn.Module, embed_size: int):
        super().__init__()
        self.head = head
        self.ffwd = FeedForward(embed_size)
        self.ln1 = LayerNorm(embed_size)
        self.ln2 = LayerNorm(embed_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.head(self.ln1(x))  # (B, T, C) + (B, T, C) -> (B, T, C)
        x = x + self.ffwd(self.ln2(x))  # (B, T, C) + (B, T, C) -> (B, T, C)
        return x

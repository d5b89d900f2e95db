"""BlockVer4: BlockVer3 with dropout on each residual branch's output, so the model overfits less (why:
dropout)."""
import torch
from torch import nn

from learngpt import checks
from learngpt_torch.feed_forward import FeedForward
from learngpt_torch.layer_norm import LayerNorm


class BlockVer4(nn.Module):
    """x + drop1(attention(ln1(x))), then x + drop2(feed-forward(ln2(x))); train() turns dropout on."""

    def __init__(self, head: nn.Module, embed_size: int, dropout: float):
        super().__init__()
        checks.check_dropout(dropout)
        self.head = head
        self.ffwd = FeedForward(embed_size)
        self.ln1 = LayerNorm(embed_size)
        self.ln2 = LayerNorm(embed_size)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop1(self.head(self.ln1(x)))  # (B,T,C) + (B,T,C)
        x = x + self.drop2(self.ffwd(self.ln2(x)))  # (B,T,C) + (B,T,C)
        return x

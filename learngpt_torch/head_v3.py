"""HeadVer3: HeadVer2's weights built as a masked softmax of zeros, the form that attention will fill with
learned scores (why: softmax)."""
import torch
import torch.nn.functional as F
from torch import nn

from learngpt import checks


class HeadVer3(nn.Module):
    """Causal running mean as softmax(zeros masked with -inf in the future) @ x; exposes the weights; no
    parameters."""

    def __init__(self, block_size: int, embed_size: int):
        super().__init__()
        checks.check_sizes("HeadVer3", block_size=block_size, embed_size=embed_size)
        self.block_size, self.embed_size = block_size, embed_size
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_features(x.shape, x.dtype, self.embed_size, "HeadVer3")
        checks.check_sequence(x.shape, self.block_size, "HeadVer3")
        B, T, C = x.shape
        wei = torch.zeros((T, T), dtype=x.dtype, device=x.device)  # (T, T): every pair equally interesting
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))  # (T, T): no looking ahead
        wei = F.softmax(wei, dim=-1)  # (T, T): each row sums to 1, the future exactly 0
        self.attentions = wei  # (T, T)
        out = wei @ x  # (T, T) @ (B, T, C) -> (B, T, C)
        return out

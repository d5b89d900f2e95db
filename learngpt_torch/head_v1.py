"""HeadVer1: week 1's first contextualizer, each position the mean of the inputs up to it, written as an
explicit loop (the slow baseline)."""
import torch
from torch import nn

from learngpt import checks


class HeadVer1(nn.Module):
    """Causal running mean over time, one position at a time in a Python loop (the batch rides along); no
    parameters."""

    def __init__(self, block_size: int, embed_size: int):
        super().__init__()
        checks.check_sizes("HeadVer1", block_size=block_size, embed_size=embed_size)
        self.block_size, self.embed_size = block_size, embed_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_features(x.shape, x.dtype, self.embed_size, "HeadVer1")
        checks.check_sequence(x.shape, self.block_size, "HeadVer1")
        B, T, C = x.shape
        rows = []
        for t in range(T):
            xprev = x[:, : t + 1]  # (B, t + 1, C): this position and every one before it
            rows.append(xprev.mean(dim=1))  # (B, t + 1, C) -> (B, C)
        out = torch.stack(rows, dim=1)  # T x (B, C) -> (B, T, C)
        return out

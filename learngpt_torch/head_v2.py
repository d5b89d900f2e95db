"""HeadVer2: HeadVer1's running mean as one matmul with a row-normalised lower-triangular matrix (why: the
same result, faster)."""
import torch
from torch import nn

from learngpt import checks


class HeadVer2(nn.Module):
    """Causal running mean as wei @ x, wei the lower-triangular ones divided by their row sums; no
    parameters."""

    def __init__(self, block_size: int, embed_size: int):
        super().__init__()
        checks.check_sizes("HeadVer2", block_size=block_size, embed_size=embed_size)
        self.block_size, self.embed_size = block_size, embed_size
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_features(x.shape, x.dtype, self.embed_size, "HeadVer2")
        checks.check_sequence(x.shape, self.block_size, "HeadVer2")
        B, T, C = x.shape
        tril = self.tril[:T, :T].to(x.dtype)  # (T, T): 1 where a position may look, 0 ahead
        wei = tril / tril.sum(dim=1, keepdim=True)  # (T, T) / (T, 1) -> (T, T): each row sums to 1
        out = wei @ x  # (T, T) @ (B, T, C) -> (B, T, C)
        return out

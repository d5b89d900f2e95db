"""HeadVer1 written another way: a cumulative sum divided by the count, no loop."""
import torch
from torch import nn


class HeadVer1(nn.Module):
    def __init__(self, block_size: int, embed_size: int):
        super().__init__()
        self.block_size, self.embed_size = block_size, embed_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = torch.arange(1, x.shape[1] + 1, dtype=x.dtype).reshape(1, -1, 1)
        return x.cumsum(dim=1) / counts

"""HeadVer4 written another way: einsum for both products, the mask from torch.triu, the scale as a division."""
import math

import torch
from torch import nn

from learngpt_torch.layers import linear


class HeadVer4(nn.Module):
    def __init__(self, block_size: int, embed_size: int, head_size: int):
        super().__init__()
        self.block_size, self.embed_size, self.head_size = block_size, embed_size, head_size
        self.key = linear(embed_size, head_size, bias=False)
        self.query = linear(embed_size, head_size, bias=False)
        self.value = linear(embed_size, head_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, C = x.shape[1], x.shape[2]
        k, q, v = self.key(x), self.query(x), self.value(x)
        scores = torch.einsum("btd,bsd->bts", q, k) / math.sqrt(C)
        self.var = scores.var(correction=1)
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
        self.attentions = scores.softmax(dim=-1)
        return torch.einsum("bts,bsd->btd", self.attentions, v)

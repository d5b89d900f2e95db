"""MultiHeadVer2: MultiHeadVer1's maths batched, one matmul for all heads (why: the same result, faster)."""
import torch
import torch.nn.functional as F
from torch import nn

from learngpt import checks
from learngpt_torch.layers import linear


class MultiHeadVer2(nn.Module):
    """Multi-head attention with all heads in one tensor: query/key/value are single (C, C) maps. Scores are
    scaled by embed_size ** -0.5 as in MultiHeadVer1, the curriculum's scale (HeadVer4 says what the paper
    does)."""

    def __init__(self, block_size: int, embed_size: int, n_heads: int):
        super().__init__()
        checks.check_sizes("MultiHeadVer2", block_size=block_size, embed_size=embed_size,
                           n_heads=n_heads)
        checks.check_divisible(embed_size, n_heads)
        self.block_size, self.embed_size, self.n_heads = block_size, embed_size, n_heads
        self.key = linear(embed_size, embed_size, bias=False)
        self.query = linear(embed_size, embed_size, bias=False)
        self.value = linear(embed_size, embed_size, bias=False)
        self.proj = linear(embed_size, embed_size)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_features(x.shape, x.dtype, self.embed_size, "MultiHeadVer2")
        checks.check_sequence(x.shape, self.block_size, "MultiHeadVer2")
        B, T, C = x.shape
        nh, hs = self.n_heads, C // self.n_heads
        k = self.key(x).view(B, T, nh, hs)  # (B, T, C) @ (C, C) -> (B, T, C) -> (B, T, nh, hs)
        q = self.query(x).view(B, T, nh, hs)  # (B, T, C) @ (C, C) -> (B, T, C) -> (B, T, nh, hs)
        v = self.value(x).view(B, T, nh, hs)  # (B, T, C) @ (C, C) -> (B, T, C) -> (B, T, nh, hs)
        wei = torch.einsum("bthd,bshd->bhts", q, k) * C ** -0.5  # (B,T,nh,hs) x (B,S,nh,hs) -> (B, nh, T, S)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))  # (B, nh, T, S): causal
        wei = F.softmax(wei, dim=-1)  # (B, nh, T, S): each row sums to 1
        self.attentions = wei  # (B, nh, T, S)
        out = torch.einsum("bhts,bshd->bthd", wei, v)  # (B, nh, T, S) x (B, S, nh, hs) -> (B, T, nh, hs)
        out = out.reshape(B, T, C)  # (B, T, nh, hs) -> (B, T, C): the heads side by side
        out = self.proj(out)  # (B, T, C) @ (C, C) -> (B, T, C)
        return out

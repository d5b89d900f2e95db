"""HeadVer4: week 1's causal self-attention head, the unit that week 2 runs several of side by side."""
import torch
import torch.nn.functional as F
from torch import nn

from learngpt import checks
from learngpt_torch.layers import linear


class HeadVer4(nn.Module):
    """One causal self-attention head. Its scores are scaled by embed_size ** -0.5, as the curriculum
    writes it; the paper (Attention Is All You Need, eq. 1) and nanoGPT scale by head_size ** -0.5, the
    width of q and k. The two agree for one head of head_size = embed_size; for the narrow heads of a
    multi-head layer the paper's scale is sqrt(embed_size / head_size) times larger (what that changes,
    measured: docs/answers.md, "The attention scale"). Each call exposes its weights
    (self.attentions) and, in eval mode, its scores' variance (self.var, week 1's question); in train mode var
    is None: a full reduction that no training step needs."""

    def __init__(self, block_size: int, embed_size: int, head_size: int):
        super().__init__()
        checks.check_sizes("HeadVer4", block_size=block_size, embed_size=embed_size,
                           head_size=head_size)
        self.block_size, self.embed_size, self.head_size = block_size, embed_size, head_size
        self.key = linear(embed_size, head_size, bias=False)
        self.query = linear(embed_size, head_size, bias=False)
        self.value = linear(embed_size, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_features(x.shape, x.dtype, self.embed_size, "HeadVer4")
        checks.check_sequence(x.shape, self.block_size, "HeadVer4")
        B, T, C = x.shape
        k = self.key(x)  # (B, T, C) @ (C, hs) -> (B, T, hs)
        q = self.query(x)  # (B, T, C) @ (C, hs) -> (B, T, hs)
        v = self.value(x)  # (B, T, C) @ (C, hs) -> (B, T, hs)
        wei = q @ k.transpose(-2, -1) * C ** -0.5  # (B, T, hs) @ (B, hs, T) -> (B, T, T)
        self.var = None if self.training else wei.var(correction=1)  # (): scaled scores' unbiased variance
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))  # (B, T, T): no looking ahead
        wei = F.softmax(wei, dim=-1)  # (B, T, T): each row sums to 1
        self.attentions = wei  # (B, T, T)
        out = wei @ v  # (B, T, T) @ (B, T, hs) -> (B, T, hs)
        return out

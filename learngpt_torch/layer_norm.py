"""LayerNorm: the curriculum's own, to keep deep stacks' activations and gradients in range (why:
LayerNorm)."""
import torch
from torch import nn

from learngpt import checks


class LayerNorm(nn.Module):
    """gamma * (x - mean) / (std + eps) + beta over the last axis, std unbiased, eps outside the root."""

    def __init__(self, features: int, eps: float = 1e-6):
        super().__init__()
        checks.check_layer_norm_features(features)
        self.features, self.eps = features, eps
        self.gamma = nn.Parameter(torch.ones(features, dtype=torch.float32))  # (C,)
        self.beta = nn.Parameter(torch.zeros(features, dtype=torch.float32))  # (C,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_width(x.shape, x.dtype, self.features, "LayerNorm")
        mean = x.mean(dim=-1, keepdim=True)  # (..., C) -> (..., 1)
        std = x.std(dim=-1, keepdim=True, correction=1)  # (..., C) -> (..., 1): unbiased, divides by C - 1
        return self.gamma * (x - mean) / (std + self.eps) + self.beta  # (..., C)

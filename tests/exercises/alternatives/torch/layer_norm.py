"""LayerNorm written another way: the variance through torch.var_mean, the std as its root, gamma and beta
registered in another order."""
import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, features: int, eps: float = 1e-6):
        super().__init__()
        self.features, self.eps = features, eps
        self.beta = nn.Parameter(torch.zeros(features))
        self.gamma = nn.Parameter(torch.ones(features))

    def forward(self, x):
        var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=1)
        return (x - mean) * self.gamma / (var.sqrt() + self.eps) + self.beta

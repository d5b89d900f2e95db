"""Library layers with every framework default that the Flax side differs on stated explicitly."""
from torch import nn


def linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    # torch's default init: weight and bias uniform in +-1/sqrt(in_features)
    return nn.Linear(in_features, out_features, bias=bias)


def embedding(num_embeddings: int, features: int) -> nn.Embedding:
    # torch's default init: N(0, 1)
    return nn.Embedding(num_embeddings, features)


def library_layer_norm(features: int, eps: float) -> nn.LayerNorm:
    # biased variance, eps inside the square root; weight ones, bias zeros
    return nn.LayerNorm(features, eps=eps)

"""LayerNorm: the curriculum's own, to keep deep stacks' activations and gradients in range (why:
LayerNorm)."""
import jax
import jax.numpy as jnp
from flax import nnx

from learngpt import checks


class LayerNorm(nnx.Module):
    """gamma * (x - mean) / (std + eps) + beta over the last axis, std unbiased, eps outside the root."""

    def __init__(self, features: int, eps: float = 1e-6):
        checks.check_layer_norm_features(features)
        self.features, self.eps = features, eps
        self.gamma = nnx.Param(jnp.ones(features, dtype=jnp.float32))  # (C,)
        self.beta = nnx.Param(jnp.zeros(features, dtype=jnp.float32))  # (C,)

    def __call__(self, x: jax.Array) -> jax.Array:
        checks.check_width(x.shape, x.dtype, self.features, "LayerNorm")
        mean = x.mean(axis=-1, keepdims=True)  # (..., C) -> (..., 1)
        std = x.std(axis=-1, keepdims=True, ddof=1)  # (..., C) -> (..., 1): unbiased, divides by C - 1
        return self.gamma * (x - mean) / (std + self.eps) + self.beta  # (..., C)

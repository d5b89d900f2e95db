"""LayerNorm: the curriculum's own, to keep deep stacks' activations and gradients in range (why:
LayerNorm)."""
import jax
import jax.numpy as jnp
from flax import linen as nn

from learngpt import checks


class LayerNorm(nn.Module):
    """gamma * (x - mean) / (std + eps) + beta over the last axis, std unbiased, eps outside the root."""

    features: int
    eps: float = 1e-6

    def __post_init__(self):
        checks.check_layer_norm_features(self.features)
        super().__post_init__()

    def setup(self):
        self.gamma = self.param("gamma", nn.initializers.ones, (self.features,), jnp.float32)  # (C,)
        self.beta = self.param("beta", nn.initializers.zeros, (self.features,), jnp.float32)  # (C,)

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        checks.check_width(x.shape, x.dtype, self.features, "LayerNorm")
        mean = x.mean(axis=-1, keepdims=True)  # (..., C) -> (..., 1)
        std = x.std(axis=-1, keepdims=True, ddof=1)  # (..., C) -> (..., 1): unbiased, divides by C - 1
        return self.gamma * (x - mean) / (std + self.eps) + self.beta  # (..., C)

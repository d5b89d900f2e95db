"""LayerNorm written another way: the unbiased standard deviation from its formula, a sum over C - 1."""
import jax.numpy as jnp
from flax import linen as nn


class LayerNorm(nn.Module):
    features: int
    eps: float = 1e-6

    def setup(self):
        self.gamma = self.param("gamma", nn.initializers.ones, (self.features,), jnp.float32)
        self.beta = self.param("beta", nn.initializers.zeros, (self.features,), jnp.float32)

    def __call__(self, x, deterministic: bool = True):
        centred = x - jnp.sum(x, axis=-1, keepdims=True) / x.shape[-1]
        std = jnp.sqrt(jnp.sum(centred * centred, axis=-1, keepdims=True) / (x.shape[-1] - 1))
        return centred / (std + self.eps) * self.gamma + self.beta

"""Library layers with every framework default that the torch side differs on stated explicitly."""
import jax
import jax.numpy as jnp
from flax import linen as nn


def uniform(bound: float):
    """An initialiser drawing uniformly from [-bound, bound), torch's Linear default."""
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


def linear(in_features: int, out_features: int, bias: bool = True) -> nn.Dense:
    # flax defaults to lecun_normal kernels and zero biases; torch draws both uniform in +-1/sqrt(in_features)
    bound = in_features ** -0.5
    return nn.Dense(out_features, use_bias=bias, kernel_init=uniform(bound), bias_init=uniform(bound))


def embedding(num_embeddings: int, features: int) -> nn.Embed:
    # flax defaults to N(0, 1/features); torch to N(0, 1)
    return nn.Embed(num_embeddings, features, embedding_init=nn.initializers.normal(stddev=1.0))


def library_layer_norm(features: int, eps: float) -> nn.LayerNorm:
    # flax defaults to eps 1e-6 and E[x^2] - E[x]^2 ("fast variance"); torch to 1e-5 and E[(x - mean)^2]
    return nn.LayerNorm(epsilon=eps, use_fast_variance=False)

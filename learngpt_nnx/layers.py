"""Library layers with every framework default that the torch and linen sides differ on stated explicitly."""
import jax
import jax.numpy as jnp
from flax import nnx


def uniform(bound: float):
    """An initialiser drawing uniformly from [-bound, bound), torch's Linear default."""
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


def linear(in_features: int, out_features: int, bias: bool = True, *, rngs: nnx.Rngs) -> nnx.Linear:
    # nnx defaults to lecun_normal kernels and zero biases; torch draws both uniform in +-1/sqrt(in_features)
    bound = in_features ** -0.5
    return nnx.Linear(in_features, out_features, use_bias=bias, kernel_init=uniform(bound),
                      bias_init=uniform(bound), rngs=rngs)


def embedding(num_embeddings: int, features: int, *, rngs: nnx.Rngs) -> nnx.Embed:
    # nnx defaults to N(0, 1/features); torch to N(0, 1)
    layer = nnx.Embed(num_embeddings, features, embedding_init=nnx.initializers.normal(stddev=1.0), rngs=rngs)
    # nnx.Embed looks up in the dtype its table had when built (float32, after float64 weights too); torch and
    # linen in the table's own dtype: None says so
    layer.dtype = None
    return layer


def library_layer_norm(features: int, eps: float, *, rngs: nnx.Rngs) -> nnx.LayerNorm:
    # nnx defaults to eps 1e-6 and E[x^2] - E[x]^2 ("fast variance"); torch to 1e-5 and E[(x - mean)^2]
    return nnx.LayerNorm(features, epsilon=eps, use_fast_variance=False, rngs=rngs)

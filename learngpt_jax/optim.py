"""AdamW, the curriculum's optimiser: torch.optim.AdamW's arithmetic written as an optax transformation.

`optax.adamw` is the same algorithm, but it computes Adam's bias corrections 1 - b**t in the parameters'
dtype. In float32, b2 = 0.999 rounds to 0.99900001, and 1 - b2**t for small t comes out ~1.3e-5 relative
off (torch computes it in Python floats), a systematic scaling of every early update; over 200 steps of
NanoGPT that alone moved float32 parameters 1.5e-3 .. 3.4e-3 away from torch's. Here the corrections are
-expm1(t * log b), accurate to a float32 ulp, and every other step follows torch's order of operations.

optax is the same library under both Flax APIs: linen keeps the transformation's state beside its params
(learngpt_flax/optim.py), NNX inside an nnx.Optimizer (learngpt_nnx/optim.py).
"""
import functools
import math

import jax
import jax.numpy as jnp
import optax


@functools.cache
def adamw(learning_rate: float, b1: float, b2: float, eps: float,
          weight_decay: float) -> optax.GradientTransformation:
    """torch.optim.AdamW (amsgrad off) as an optax GradientTransformation; the state is optax's
    ScaleByAdamState. One transformation per hyper-parameters (functools.cache): a program that closes over
    it (the trainers' jitted step) is then the same program in another run of the same config."""
    log_b1, log_b2 = math.log(b1), math.log(b2)  # Python floats: the constants carry no float32 rounding of b

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)  # immutable arrays: mu and nu may share it
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update(grads, state, params):
        count = state.count + 1
        # torch: exp_avg.lerp_(grad, 1 - b1), then exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        mu = jax.tree_util.tree_map(lambda m, g: m + (1 - b1) * (g - m), state.mu, grads)
        nu = jax.tree_util.tree_map(lambda v, g: v * b2 + (1 - b2) * g * g, state.nu, grads)

        def new_update(p, m, v):
            t = count.astype(p.dtype)
            bias_correction1 = -jnp.expm1(t * log_b1)  # 1 - b1**t
            bias_correction2 = -jnp.expm1(t * log_b2)  # 1 - b2**t
            step_size = learning_rate / bias_correction1
            denom = jnp.sqrt(v) / jnp.sqrt(bias_correction2) + eps
            decayed = p * (1 - learning_rate * weight_decay)  # torch: param.mul_(1 - lr * weight_decay)
            # torch: param.addcdiv_(m, denom, value=-step_size); optax adds p back, so return the difference
            return (decayed + (-step_size) * (m / denom)) - p

        updates = jax.tree_util.tree_map(new_update, params, mu, nu)
        return updates, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)

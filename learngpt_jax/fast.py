"""What makes a JAX training step fast on CPU with the same maths, under either Flax API: the pieces
learngpt_flax/fast.py and learngpt_nnx/fast.py put into their steps, and the compiled-program cache they
share.
Each is measured in docs/bench.md ("The Flax loop" and "Faster where the compute is"):

- DROPOUT_RNG: dropout draws from XLA's RngBitGenerator run as Threefry, where JAX's default threefry keys
  unroll into loops of small kernels; the masks are other masks, equally Bernoulli(1 - rate);
- COMPILER_OPTIONS: on CPU, programs of fewer than SMALL_FLOPS (a step at the curriculum's size) are compiled
  with XLA's YNNPACK library fusions off: there a library call costs more than the work it replaces;
- stored_grad: a LayerNorm's input gradient stored once, where XLA on CPU would recompute the residual
  stream's gradient chain inside every kernel that reads it;
- dense: a Dense (linen) or Linear (NNX) layer's weight gradient as x^T g with x^T stored first, or
  ((g^T) @ x)^T where that copies less, where autodiff's dot contracts x's first dimension, a layout XLA's CPU
  dot runs well below its peak;
- PROGRAMS: compiled programs kept for the process (another seed of the same architecture compiles nothing).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import define_prng_impl

from learngpt_jax.training import platform_of, signature


def _bits(key: jax.Array, shape: tuple, dtype) -> jax.Array:
    """shape random bits of dtype from a (4,) uint32 key: XLA's RngBitGenerator, Threefry-2x32."""
    threefry = jax.lax.RandomAlgorithm.RNG_THREE_FRY
    return jax.lax.rng_bit_generator(key, shape, dtype=dtype, algorithm=threefry)[1]


def _split(key: jax.Array, shape: tuple) -> jax.Array:
    """shape new keys: every 10th of 10 n draws, as unsafe_rbg splits."""
    n = int(np.prod(shape))
    return jax.lax.slice_in_dim(_bits(key, (10 * n, 4), jnp.uint32), None, None, stride=10).reshape(*shape, 4)


def _fold_in(key: jax.Array, data: jax.Array) -> jax.Array:
    """key mixed with data (flax's make_rng folds each module's path in), as unsafe_rbg folds."""
    return key ^ _bits(jax.random.key_data(jax.random.key(data, impl="unsafe_rbg")), (10, 4), jnp.uint32)[-1]


# JAX's unsafe_rbg (keys split and folded by XLA's RngBitGenerator, no rolled threefry loop) with the
# generator run as Threefry-2x32 instead of XLA's default, Philox-4x32
DROPOUT_RNG = define_prng_impl(
    key_shape=(4,), seed=lambda seed: jax.random.key_data(jax.random.key(seed, impl="unsafe_rbg")),
    split=_split, fold_in=_fold_in, name="rbg_threefry", tag="rtf",
    random_bits=lambda key, width, shape: _bits(key, shape, jnp.dtype(f"uint{width}")))
# per-program XLA options by platform for small programs; dropped where this jaxlib does not know an option
COMPILER_OPTIONS = {"cpu": {"xla_cpu_experimental_ynn_fusion_type": ""}}
# floating-point operations (XLA's cost analysis; a scan's body counted once) below which a program is small:
# between the ladder's curriculum and middle rungs, where YNNPACK's fusions turn from a loss to a gain
SMALL_FLOPS = 2e8


def dropout_key(seed: int) -> jax.Array:
    """The key the fast trainers' dropout draws from by default: seed in the DROPOUT_RNG implementation."""
    return jax.random.key(seed, impl=DROPOUT_RNG)


def flops(lowered) -> float | None:
    """XLA's count of lowered's floating-point operations (a loop's body counted once); None without one."""
    try:
        cost = lowered.cost_analysis()
    except Exception:  # a backend without a cost model
        return None
    cost = cost[0] if isinstance(cost, (list, tuple)) and cost else cost
    return float(cost["flops"]) if isinstance(cost, dict) and "flops" in cost else None


def compile_program(lowered, platform: str):
    """lowered.compile() with COMPILER_OPTIONS for platform if the program is small (under SMALL_FLOPS, or of
    unknown cost); without them if XLA refuses them (an option this jaxlib does not have)."""
    options = COMPILER_OPTIONS.get(platform)
    count = flops(lowered) if options else None
    if options and (count is None or count < SMALL_FLOPS):
        try:
            return lowered.compile(compiler_options=options)
        except Exception as err:  # jax.errors.JaxRuntimeError: INVALID_ARGUMENT, no such option
            if "option" not in str(err):
                raise
    return lowered.compile()


PROGRAMS: dict[tuple, Any] = {}  # what a program depends on -> the compiled program, for the process


def kept(depends: tuple, fn, *args):
    """fn (a jitted function) compiled for args by compile_program on their platform, once for the process:
    depends names what else the program depends on (the architecture, the optimizer's hyper-parameters, the
    program's role); 64-bit mode and the args' structure, shapes and dtypes complete the key."""
    key = (*depends, *signature(args))
    if key not in PROGRAMS:
        PROGRAMS[key] = compile_program(fn.lower(*args), platform_of(args))
    return PROGRAMS[key]


@jax.custom_vjp
def stored_grad(x: jax.Array) -> jax.Array:
    """x itself; in the backward pass its gradient is read through a gather (of every element, in place),
    which XLA computes once and stores, instead of fusing the computation of that gradient into each kernel
    that reads it. Exact: the gather copies the values, NaN and inf included."""
    return x


def _stored_grad_fwd(x):
    return x, None


def _stored_grad_bwd(_, g):
    return (jnp.take(g, jnp.arange(g.shape[-1]), axis=-1, mode="clip"),)


stored_grad.defvjp(_stored_grad_fwd, _stored_grad_bwd)


@jax.custom_vjp
def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array | None) -> jax.Array:
    """A Dense layer's output, x @ kernel (+ bias), with the gradients autodiff gives, computed in other
    layouts: the kernel's as (x^T) @ g with x^T made first, or as ((g^T) @ x)^T where g and the result are
    smaller than x (optimization_barriers keep XLA from folding the transposes back into the dot), the input's
    as g contracted with the kernel's last dimension."""
    y = jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))
    return y if bias is None else y + bias


def _dense_fwd(x, kernel, bias):
    return dense(x, kernel, bias), (x, kernel, bias is None)


def _dense_bwd(res, g):
    x, kernel, no_bias = res
    rows, g_rows = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
    dx = jax.lax.dot_general(g, kernel, (((g.ndim - 1,), (1,)), ((), ())))
    (n, fan_in), fan_out = rows.shape, g_rows.shape[1]
    if n * fan_in <= n * fan_out + fan_out * fan_in:  # transpose the fewer elements: x, or g and the result
        dkernel = jax.lax.optimization_barrier(rows.T) @ g_rows
    else:
        dkernel = jax.lax.optimization_barrier(jax.lax.optimization_barrier(g_rows.T) @ rows).T
    return dx, dkernel, None if no_bias else g_rows.sum(0)


dense.defvjp(_dense_fwd, _dense_bwd)

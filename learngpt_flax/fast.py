"""Faster Flax training on CPU with the same maths: what the lesson (learngpt_flax/trainer.py) leaves out.

`fast.train` is `trainer.train` with five changes, each measured in docs/bench.md ("The Flax loop" and "Faster
where the compute is"):

- dropout draws from DROPOUT_RNG, XLA's RngBitGenerator run as Threefry, where JAX's default threefry keys
  unroll into loops of small kernels; the masks are other masks, equally Bernoulli(1 - rate);
- on CPU, programs of fewer than SMALL_FLOPS (a step at the curriculum's size) are compiled with XLA's YNNPACK
  library fusions off (COMPILER_OPTIONS): there a library call costs more than the work it replaces;
- each LayerNorm's input gradient is stored once (store_norm_grads), where XLA on CPU would recompute the
  residual stream's gradient chain inside every kernel that reads it;
- each Dense layer's weight gradient is x^T g with x^T stored first, or ((g^T) @ x)^T where that copies less
  (dense_grads), where autodiff's dot contracts x's first dimension, a layout XLA's CPU dot runs well below
  its peak;
- compiled programs are kept for the process (another seed of the same architecture compiles nothing).

`learngpt compare`, `learngpt train`, the questions and the bench train with it; the bench also measures the
lesson's trainer against it, paired.
"""
from __future__ import annotations

import contextlib
import re
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from jax.extend.random import define_prng_impl

from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History
from learngpt_flax import trainer
from learngpt_flax.layer_norm import LayerNorm


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
    """The key fast.train's dropout draws from by default: seed in the DROPOUT_RNG implementation."""
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


def platform_of(tree) -> str:
    """cpu, gpu, ...: where the first jax array of tree lives (the default backend if none is one)."""
    for leaf in jax.tree_util.tree_leaves(tree):
        if isinstance(leaf, jax.Array):
            return next(iter(leaf.devices())).platform
    return jax.default_backend()


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

LAYER_NORMS = (LayerNorm, nn.LayerNorm)  # the curriculum's own and flax's (GPTVer4's ln_f)


def store_norm_grads(next_fun, args, kwargs, context):
    """A flax method interceptor: the input of every LayerNorm goes through stored_grad. In a stack of
    pre-norm blocks the residual stream's gradient at a block is an elementwise sum over every block above
    it, which XLA on CPU fuses into each of its consumers; stored once, no kernel recomputes it."""
    if context.method_name == "__call__" and isinstance(context.module, LAYER_NORMS) and args:
        args = (stored_grad(args[0]),) + tuple(args[1:])
    return next_fun(*args, **kwargs)


@jax.custom_vjp
def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array | None) -> jax.Array:
    """nn.Dense's output, x @ kernel (+ bias), with the gradients nn.Dense's autodiff gives, computed in other
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


def dense_grads(next_fun, args, kwargs, context):
    """A flax method interceptor: nn.Dense computed by dense (the same output and the same gradients), where
    the layer is plain: input, kernel and bias of one dtype; no dtype, precision or dot_general of its own."""
    mod = context.module
    if (context.method_name == "__call__" and type(mod) is nn.Dense and not mod.is_initializing() and args
            and not kwargs and mod.dtype is None and mod.precision is None and mod.dot_general is None
            and mod.dot_general_cls is None):
        p = mod.variables["params"]
        x, kernel, bias = args[0], p["kernel"], p.get("bias")
        if (isinstance(x, jax.Array) and x.ndim >= 1 and x.dtype == kernel.dtype
                and (bias is None or bias.dtype == kernel.dtype)):
            return dense(x, kernel, bias)
    return next_fun(*args, **kwargs)


INTERCEPTORS = (store_norm_grads, dense_grads)  # what make_step adds to the lesson's step


def make_step(model, optimizer: optax.GradientTransformation, interceptors: tuple = INTERCEPTORS):
    """trainer.make_step traced under interceptors (by default each LayerNorm's input gradient stored once
    and each Dense layer's gradients in dense's layouts): the same maths."""
    plain = trainer.make_step(model, optimizer)

    def step(state, batch):
        with contextlib.ExitStack() as stack:  # active while the step is traced
            for interceptor in interceptors:
                stack.enter_context(nn.intercept_methods(interceptor))
            return plain(state, batch)
    return step


def largest_kernels(hlo: str, n: int = 3) -> list[int]:
    """The n largest fused kernels of a compiled program's text (`compiled.as_text()`), in instructions: an
    elementwise chain XLA recomputes inside every consumer shows up here, growing with depth."""
    sizes = [sum(1 for line in body.splitlines() if re.match(r"\s+(ROOT )?%?[\w.\-]+ = ", line))
             for body in re.findall(r"^%?fused[\w.\-]* [^\n]*\{\n(.*?)^\}", hlo, re.S | re.M)]
    return sorted(sizes, reverse=True)[:n]


class StepByStep:
    """make_run for trainer.train: a chunk's steps as one jitted step per Python call, what lax.scan saves
    (the bench measures it); compiled once, at the first step's shapes."""

    def __init__(self, step):
        self.step = jax.jit(step)

    def lower(self, state, xs, ys):
        """As a jitted function: .compile() of the result gives the program (trainer.train's own compile)."""
        plain = lambda fn, *args: fn.lower(*args).compile()  # noqa: E731
        return SimpleNamespace(compile=lambda: self.program(plain, state, xs, ys))

    def program(self, compile_step, state, xs, ys):
        step = compile_step(self.step, state, (xs[0], ys[0]))

        def run(state, xs, ys):
            losses = []
            for x, y in zip(np.asarray(xs), np.asarray(ys)):  # host rows: indexing a jax array dispatches
                state, loss = step(state, (x, y))
                losses.append(loss)
            return state, jnp.stack(losses)
        return run


_PROGRAMS: dict[tuple, Any] = {}  # what a program depends on -> the compiled program, for the process


def train(model, params, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          key: jax.Array | None = None, fused: bool = True, desc: str = "flax") -> tuple[Any, History]:
    """trainer.train, faster (the module docstring); dropout draws from key (default: dropout_key(cfg.seed))
    instead of jax.random.key(cfg.seed). fused=False: one jitted step per Python call (StepByStep)."""
    platform = platform_of(params)
    depends = (platform, repr(model), cfg.learning_rate, cfg.betas, cfg.eps, cfg.weight_decay,
               jax.config.jax_enable_x64)

    def compile_once(fn, *args):  # another seed of the same architecture compiles nothing
        if isinstance(fn, StepByStep):
            return fn.program(compile_once, *args)
        leaves = jax.tree_util.tree_leaves(args)
        signature = depends + (str(jax.tree_util.tree_structure(args)),) + tuple(
            (np.shape(a), str(a.dtype)) for a in leaves)
        if signature not in _PROGRAMS:
            _PROGRAMS[signature] = compile_program(fn.lower(*args), platform)
        return _PROGRAMS[signature]
    return trainer.train(model, params, cfg, sampler, evals, max_iters, eval_interval, progress,
                         dropout_key(cfg.seed) if key is None else key, desc, make_step=make_step,
                         make_run=trainer.scan_steps if fused else StepByStep, compile=compile_once)

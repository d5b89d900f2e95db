"""Faster Flax training on CPU with the same maths: what the lesson (learngpt_flax/trainer.py) leaves out.

`fast.train` trains what `trainer.train` trains, with learngpt_jax/fast.py's pieces, each measured in
docs/bench.md ("The Flax loop" and "Faster where the compute is"):

- dropout draws from DROPOUT_RNG, XLA's RngBitGenerator run as Threefry, where JAX's default threefry keys
  unroll into loops of small kernels; the masks are other masks, equally Bernoulli(1 - rate);
- on CPU, small programs are compiled with XLA's YNNPACK library fusions off (COMPILER_OPTIONS);
- each LayerNorm's input gradient is stored once (store_norm_grads), where XLA on CPU would recompute the
  residual stream's gradient chain inside every kernel that reads it;
- each Dense layer's weight gradient is computed by learngpt_jax.fast.dense (dense_grads), in a layout XLA's
  CPU dot runs well;
- compiled programs are kept for the process (another seed of the same architecture compiles nothing).

The step is the lesson's make_step traced under two flax method interceptors; the loop is
learngpt_jax/training.py's. `learngpt compare`, `learngpt train`, the questions and the bench train with it;
the bench also measures the lesson's trainer against it, paired.
"""
from __future__ import annotations

import contextlib
from typing import Any

import jax
import optax
from flax import linen as nn

from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History, eval_data
from learngpt_flax import trainer
from learngpt_flax.layer_norm import LayerNorm
from learngpt_flax.optim import make_optimizer
from learngpt_jax import training
from learngpt_jax.fast import dense, dropout_key, kept, stored_grad

LAYER_NORMS = (LayerNorm, nn.LayerNorm)  # the curriculum's own and flax's (GPTVer4's ln_f)


def store_norm_grads(next_fun, args, kwargs, context):
    """A flax method interceptor: the input of every LayerNorm goes through stored_grad. In a stack of
    pre-norm blocks the residual stream's gradient at a block is an elementwise sum over every block above
    it, which XLA on CPU fuses into each of its consumers; stored once, no kernel recomputes it."""
    if context.method_name == "__call__" and isinstance(context.module, LAYER_NORMS) and args:
        args = (stored_grad(args[0]),) + tuple(args[1:])
    return next_fun(*args, **kwargs)


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


def train(model, params, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          key: jax.Array | None = None, fused: bool = True, desc: str = "flax") -> tuple[Any, History]:
    """trainer.train, faster (the module docstring); dropout draws from key (default: dropout_key(cfg.seed))
    instead of jax.random.key(cfg.seed). fused=False: one jitted step per Python call, what lax.scan saves."""
    evals = eval_data(sampler, cfg) if evals is None else evals
    optimizer = make_optimizer(cfg)
    step = make_step(model, optimizer)
    run = jax.jit(lambda state, xs, ys: jax.lax.scan(step, state, (xs, ys))) if fused else jax.jit(step)
    state = (params, optimizer.init(params), dropout_key(cfg.seed) if key is None else key)
    depends = (repr(model), cfg.learning_rate, cfg.betas, cfg.eps, cfg.weight_decay)
    state, history = training.train(state, run, trainer.make_evaluate(model), cfg, sampler, evals,
                                    model.vocab_size, "flax", max_iters, eval_interval, progress, desc,
                                    one_step=not fused, params=lambda state: state[0],
                                    compile=lambda role, fn, *args: kept((role, *depends), fn, *args))
    return state[0], history

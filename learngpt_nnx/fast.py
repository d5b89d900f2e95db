"""Faster NNX training with the same maths: what the lesson (learngpt_nnx/trainer.py) leaves out.

`fast.train` is `trainer.train` with five changes (tools/nnx_overhead.py measures the first):

- a chunk's steps are one program: nnx.split turns the model and optimizer into a graphdef (the structure,
  static) and a State (a pytree of arrays), jax.jit compiles a lax.scan of trainer.step over that State
  (nnx.merge rebuilds the objects inside the trace, nnx.split takes the arrays out again) and nnx.update
  writes the result back; the lesson calls nnx.jit once per step, and each call walks the object graph;
- dropout draws from learngpt_flax.fast.DROPOUT_RNG and programs compile with its COMPILER_OPTIONS: the
  linen fast trainer's, for the same reasons (its docstring);
- each LayerNorm's input gradient is stored once and each Linear layer's gradients are computed by
  learngpt_flax.fast.dense (fast_layers), as the linen fast trainer does;
- compiled programs are kept for the process (another seed of the same architecture compiles nothing).

`learngpt compare`, `learngpt train` and the questions train NNX with it.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import jax
import numpy as np
from flax import nnx
from flax.nnx.nn import dtypes

from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History
from learngpt_flax.fast import compile_program, dense, dropout_key, platform_of, stored_grad
from learngpt_nnx import trainer
from learngpt_nnx.layer_norm import LayerNorm

__all__ = ["Scanned", "dropout_key", "fast_layers", "make_step", "train"]

LAYER_NORMS = (LayerNorm, nnx.LayerNorm)  # the curriculum's own and flax's (GPTVer4's ln_f)
_PATCHING = threading.Lock()


def _plain(layer: nnx.Linear, x, args, kwargs) -> bool:
    """layer is a plain nnx.Linear (no dtype, precision, dot_general or promotion of its own) called on one
    array of its kernel's dtype: dense computes what its __call__ would."""
    kernel, bias = layer.kernel[...], None if layer.bias is None else layer.bias[...]
    return (type(layer) is nnx.Linear and not args and not kwargs and isinstance(x, jax.Array)
            and x.ndim >= 1 and layer.dtype is None and layer.precision is None
            and layer.preferred_element_type is None and layer.dot_general is jax.lax.dot_general
            and layer.promote_dtype is _PROMOTE and x.dtype == kernel.dtype
            and (bias is None or bias.dtype == kernel.dtype))


def _linear(call):
    def linear(self, x, *args, **kwargs):
        if _plain(self, x, args, kwargs):
            return dense(x, self.kernel[...], None if self.bias is None else self.bias[...])
        return call(self, x, *args, **kwargs)
    return functools.wraps(call)(linear)


def _norm(call):
    return functools.wraps(call)(lambda self, x, *args, **kwargs: call(self, stored_grad(x), *args, **kwargs))


_PROMOTE = dtypes.promote_dtype  # nnx.Linear's default promotion
WRAPPERS = {**{cls: _norm for cls in LAYER_NORMS}, nnx.Linear: _linear}


@contextlib.contextmanager
def fast_layers() -> Iterator[None]:
    """Within the block, the input of every LayerNorm goes through stored_grad and every plain nnx.Linear is
    computed by dense, as learngpt_flax.fast's interceptors do in linen (NNX has no interceptors: each class's
    __call__ is wrapped while a step is traced). The same maths: stored_grad and dense give the same values
    and gradients, in kernels XLA on CPU runs faster (learngpt_flax.fast's docstring)."""
    with _PATCHING:
        calls = {cls: cls.__dict__["__call__"] for cls in WRAPPERS if "__call__" in cls.__dict__}
        for cls, call in calls.items():
            cls.__call__ = WRAPPERS[cls](call)
        try:
            yield
        finally:
            for cls, call in calls.items():
                cls.__call__ = call


def make_step(model: nnx.Module, optimizer: nnx.Optimizer) -> Callable:
    """trainer.step traced under fast_layers: the same maths."""
    def step(model, optimizer, batch):
        with fast_layers():  # active while the step is traced
            return trainer.step(model, optimizer, batch)
    return step


class Scanned:
    """make_run for trainer.train: a chunk's steps as one jax.jit program of lax.scan over the State that
    nnx.split takes out of the model and optimizer; the objects are rebuilt inside it (nnx.merge)."""

    def __init__(self, step: Callable):
        self.step = step

    def lower(self, model, optimizer, xs, ys):
        graphdef, state = nnx.split((model, optimizer))

        def pure(state, batch):  # (State, (x, y)) -> (State, loss): no object crosses the trace's border
            model, optimizer = nnx.merge(graphdef, state)
            loss = self.step(model, optimizer, batch)
            return nnx.state((model, optimizer)), loss

        lowered = jax.jit(lambda state, xs, ys: jax.lax.scan(pure, state, (xs, ys))).lower(state, xs, ys)
        return SimpleNamespace(compile=lambda **options: self.program(lowered.compile(**options)))

    @staticmethod
    def program(compiled) -> Callable:
        def run(model, optimizer, xs, ys):
            state, losses = compiled(nnx.state((model, optimizer)), xs, ys)
            nnx.update((model, optimizer), state)  # the new arrays into the same objects, in place
            return losses
        return run


_PROGRAMS: dict[tuple, Any] = {}  # what a program depends on -> the compiled program, for the process


def train(model: nnx.Module, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          key: jax.Array | None = None, fused: bool = True, desc: str = "nnx") -> History:
    """trainer.train, faster (the module docstring); dropout draws from key (default: dropout_key(cfg.seed))
    instead of cfg.seed's threefry key. fused=False: one nnx.jit step per Python call, the lesson's run."""
    platform = platform_of(nnx.state(model))
    depends = (platform, nnx.graphdef(model), cfg.learning_rate, cfg.betas, cfg.eps, cfg.weight_decay,
               jax.config.jax_enable_x64)

    def compile_once(fn, *args):  # another seed of the same architecture compiles nothing
        if isinstance(fn, trainer.StepByStep):  # its program holds this run's optimizer: compiled per run
            return fn.lower(*args).compile()
        leaves = jax.tree_util.tree_leaves(nnx.state(args))
        signature = depends + (type(fn).__name__, str(jax.tree_util.tree_structure(nnx.state(args)))) + tuple(
            (np.shape(a), str(a.dtype)) for a in leaves)
        if signature not in _PROGRAMS:
            _PROGRAMS[signature] = compile_program(fn.lower(*args), platform)
        return _PROGRAMS[signature]
    return trainer.train(model, cfg, sampler, evals, max_iters, eval_interval, progress,
                         dropout_key(cfg.seed) if key is None else key, desc, make_step=make_step,
                         make_run=Scanned if fused else trainer.StepByStep, compile=compile_once)


def pure(module: nnx.Module) -> tuple[Callable, nnx.State, Any]:
    """(fn, state, structure): fn(state, *inputs) is module(*inputs) as a pure function of its State, what
    jax.jit compiles without NNX's per-call walk of the object graph; structure (the graphdef) keys it."""
    graphdef, state = nnx.split(module)
    return (lambda state, *inputs: nnx.merge(graphdef, state)(*inputs)), state, graphdef


def chain(layers: Callable[[nnx.Rngs], list], x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """x through n fresh copies of the layers layers(rngs) builds, each its own init: the n States drawn at
    once (jax.vmap over keys), the layers applied in one lax.scan over them; no gradient."""
    graphdefs = [nnx.graphdef(layer) for layer in layers(nnx.Rngs(seed))]

    @jax.jit
    def run(keys, h):
        states = jax.vmap(lambda key: [nnx.state(m) for m in layers(nnx.Rngs(key))])(keys)  # [(n, ...)]

        def step(h, layer_states):
            for graphdef, state in zip(graphdefs, layer_states):
                h = nnx.merge(graphdef, state)(h)
            return h, None
        return jax.lax.scan(step, h, states)[0]
    return np.asarray(run(jax.random.split(jax.random.key(seed), n), jax.numpy.asarray(x)))

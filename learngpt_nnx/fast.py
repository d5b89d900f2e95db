"""Faster NNX training with the same maths: what the lesson (learngpt_nnx/trainer.py) leaves out.

`fast.train` trains what `trainer.train` trains, with learngpt_jax/fast.py's pieces, as the linen fast trainer
(learngpt_flax/fast.py) does, for the same reasons (learngpt_jax/fast.py's docstring):

- dropout draws from DROPOUT_RNG, and programs compile with COMPILER_OPTIONS;
- each LayerNorm's input gradient is stored once and each Linear layer's gradients are computed by
  learngpt_jax.fast.dense (fast_layers);
- the model and optimizer are split once (nnx.split) and their State carried from chunk to chunk by jax.jit
  programs, where the lesson's nnx.jit walks the object graph on every call;
- compiled programs are kept for the process (another seed of the same architecture compiles nothing).

The step is the lesson's make_step traced under fast_layers; the loop is learngpt_jax/training.py's.
`learngpt compare`, `learngpt train` and the questions train NNX with it.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from typing import Callable, Iterator

import jax
import numpy as np
from flax import nnx
from flax.nnx.nn import dtypes

from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History, eval_data
from learngpt_jax import training
from learngpt_jax.fast import dense, dropout_key, kept, stored_grad
from learngpt_nnx import trainer
from learngpt_nnx.layer_norm import LayerNorm
from learngpt_nnx.optim import make_optimizer

__all__ = ["dropout_key", "fast_layers", "make_step", "make_evaluate", "train", "pure", "chain"]

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
    and gradients, in kernels XLA on CPU runs faster (learngpt_jax/fast.py's docstring)."""
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
    """trainer.make_step traced under fast_layers: the same maths."""
    plain = trainer.make_step(model, optimizer)

    def step(state, batch):
        with fast_layers():  # active while the step is traced
            return plain(state, batch)
    return step


def make_evaluate(model: nnx.Module, optimizer: nnx.Optimizer) -> Callable:
    """trainer.evaluate on the State of (model, optimizer) (trainer.pure), in eval mode (dropout off)."""
    def evaluate(model, optimizer, xs, ys):
        model.eval()  # the attribute is static, set while traced
        return trainer.evaluate(model, xs, ys)
    call = trainer.pure(evaluate, model, optimizer)[0]
    return lambda state, xs, ys: call(state, xs, ys)[1]  # the loss; the State after it is dropped


def train(model: nnx.Module, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          key: jax.Array | None = None, fused: bool = True, desc: str = "nnx") -> History:
    """trainer.train, faster (the module docstring); dropout draws from key (default: dropout_key(cfg.seed))
    instead of cfg.seed's threefry key. fused=False: one jitted step per Python call, what lax.scan saves."""
    evals = eval_data(sampler, cfg) if evals is None else evals
    nnx.pop(model, nnx.Intermediate)  # a forward pass's leftovers would change the model's structure
    nnx.reseed(model, dropout=dropout_key(cfg.seed) if key is None else key)
    model.train()  # dropout on, in the structure make_step rebuilds
    optimizer = make_optimizer(model, cfg)
    step = make_step(model, optimizer)
    run = jax.jit(lambda state, xs, ys: jax.lax.scan(step, state, (xs, ys))) if fused else jax.jit(step)
    depends = (nnx.graphdef(model), cfg.learning_rate, cfg.betas, cfg.eps, cfg.weight_decay)
    state, history = training.train(nnx.state((model, optimizer)), run,
                                    jax.jit(make_evaluate(model, optimizer)), cfg, sampler, evals,
                                    model.vocab_size, "nnx", max_iters, eval_interval, progress, desc,
                                    one_step=not fused,
                                    compile=lambda role, fn, *args: kept((role, *depends), fn, *args))
    nnx.update((model, optimizer), state)  # the trained arrays into the same objects, in place
    model.eval()
    return history


def pure(module: nnx.Module) -> tuple[Callable, nnx.State, object]:
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

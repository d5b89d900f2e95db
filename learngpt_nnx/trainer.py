"""The curriculum's training loop in Flax NNX: one nnx.jit step updates the model and optimizer in place."""
from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from learngpt import checks
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History, compiled_once, eval_data, run_chunks
from learngpt_nnx.optim import make_optimizer  # torch.optim.AdamW's arithmetic in an nnx.Optimizer


def step(model: nnx.Module, optimizer: nnx.Optimizer, batch) -> jax.Array:
    """One AdamW step, in place: the batch's loss before the update. Dropout draws from the model's own
    'dropout' streams (each nnx.Dropout holds one; its count moves on every call)."""
    x, y = batch  # (B, T), (B, T)

    def loss_fn(model):
        _, loss = model(x, y)
        return loss

    loss, grads = nnx.value_and_grad(loss_fn)(model)  # grads: an nnx.State of the model's nnx.Param
    optimizer.update(model, grads)
    nnx.pop(model, nnx.Intermediate)  # what the forward pass exposed (attentions): not part of the state
    return loss


def make_step(model: nnx.Module, optimizer: nnx.Optimizer) -> Callable:
    """The step for make_run: the model and optimizer are the step's arguments in NNX, not its closure."""
    return step


def evaluate(model: nnx.Module, xs: jax.Array, ys: jax.Array) -> jax.Array:
    """Mean loss over batches xs, ys (n, B, T) in the model's mode (train() off: eval()). lax.map's body is
    another trace: the model enters it split (nnx.split) and is rebuilt there (nnx.merge)."""
    graphdef, state = nnx.split(model)
    losses = jax.lax.map(lambda b: nnx.merge(graphdef, state)(b[0], b[1])[1], (xs, ys))  # (n,)
    return losses.mean()


def make_evaluate(model: nnx.Module) -> Callable:
    """evaluate, jitted as one program (nnx.jit: the model is an argument like any array)."""
    return nnx.jit(evaluate)


class StepByStep:
    """make_run: a chunk's steps as one nnx.jit step per Python call, NNX's own way (the jitted function
    updates the model and optimizer it is given); compiled once, at the first step's shapes."""

    def __init__(self, step: Callable):
        self.step = nnx.jit(step)

    def lower(self, model, optimizer, xs, ys):
        """As a jitted function: .compile() of the result gives the chunk's program."""
        lowered = self.step.lower(model, optimizer, (xs[0], ys[0]))
        return SimpleNamespace(compile=lambda: self.program(lowered.compile()))

    @staticmethod
    def program(step: Callable) -> Callable:
        def run(model, optimizer, xs, ys):
            rows = zip(np.asarray(xs), np.asarray(ys))  # host rows: indexing a jax array dispatches
            return jnp.stack([step(model, optimizer, (x, y)) for x, y in rows])
        return run


def train(model: nnx.Module, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          key: jax.Array | int | None = None, desc: str = "nnx", make_step: Callable = make_step,
          make_run: Callable = StepByStep, compile: Callable = lambda fn, *args: fn.lower(*args).compile()
          ) -> History:
    """Train the model in place for max_iters AdamW steps on sampler's batches; returns the history. Dropout
    streams are reseeded from key (default: cfg.seed). The chunk between two evaluations is one nnx.jit step
    per batch; every program is compiled ahead of time, once per input shape, its time counted apart.
    learngpt_nnx/fast.py passes its own make_step, make_run and compile: the same maths, faster."""
    max_iters = cfg.max_iters if max_iters is None else max_iters
    eval_interval = cfg.eval_interval if eval_interval is None else eval_interval
    evals = eval_data(sampler, cfg) if evals is None else evals
    nnx.pop(model, nnx.Intermediate)  # a forward pass's leftovers would change the model's structure
    nnx.reseed(model, dropout=cfg.seed if key is None else key)
    optimizer = make_optimizer(model, cfg)
    run = make_run(make_step(model, optimizer))
    evaluate = make_evaluate(model)
    history, programs = History("nnx"), {}

    def compiled(fn, *args):  # ahead of time, once per input shape
        shapes = tuple((np.shape(a), str(a.dtype)) for a in jax.tree_util.tree_leaves(nnx.state(args)))
        return compiled_once(programs, history, (fn, shapes), lambda: compile(fn, *args))

    checks.check_host_ids(model.vocab_size, *(a for pair in evals.values() for a in pair))
    eval_arrays = {split: (jnp.asarray(x), jnp.asarray(y)) for split, (x, y) in evals.items()}

    def estimate() -> tuple[float, float]:
        model.eval()  # dropout off, as torch's model.eval()
        return tuple(float(compiled(evaluate, model, *eval_arrays[split])(model, *eval_arrays[split]))
                     for split in ("train", "val"))

    def chunk(start: int, stop: int) -> tuple[np.ndarray, float]:
        model.train()  # dropout on
        xs, ys = sampler.sample_many(stop - start, "train")  # (n, B, T) each: the same stream torch draws
        checks.check_host_ids(model.vocab_size, xs, ys)  # on the host: under jit a bad id poisons the step
        xs, ys = jnp.asarray(xs), jnp.asarray(ys)
        program = compiled(run, model, optimizer, xs, ys)
        t0 = time.perf_counter()
        losses = program(model, optimizer, xs, ys)
        losses = np.asarray(jax.block_until_ready(losses))
        return losses, time.perf_counter() - t0

    history = run_chunks(history, max_iters, eval_interval, estimate, chunk, progress, desc)
    model.eval()
    return history

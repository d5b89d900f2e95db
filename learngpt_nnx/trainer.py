"""The curriculum's training loop in Flax NNX: objects changed in place, a chunk one nnx.jit program."""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
from flax import nnx

from learngpt import checks
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History, compiled_once, eval_data, run_chunks
from learngpt_nnx.optim import make_optimizer  # torch.optim.AdamW's arithmetic in an nnx.Optimizer


def step(model: nnx.Module, optimizer: nnx.Optimizer, batch) -> jax.Array:
    """One AdamW step, in place: the batch's loss before it; dropout draws from the model's own streams."""
    x, y = batch  # (B, T), (B, T)
    loss, grads = nnx.value_and_grad(lambda model: model(x, y)[1])(model)  # grads: an nnx.State of nnx.Param
    optimizer.update(model, grads)
    nnx.pop(model, nnx.Intermediate)  # what the forward pass exposed (attentions): not part of the state
    return loss


def make_step(model: nnx.Module, optimizer: nnx.Optimizer):
    """step on the State of (model, optimizer), what lax.scan carries: (state, (x, y)) -> (state, loss)."""
    graphdef = nnx.graphdef((model, optimizer))  # the structure, static: the mode (train(), eval()) included
    def pure(state, batch):
        model, optimizer = nnx.merge(graphdef, state)  # the objects rebuilt inside the trace
        loss = step(model, optimizer, batch)
        return nnx.state((model, optimizer)), loss  # their arrays taken out again
    return pure


def evaluate(model: nnx.Module, xs: jax.Array, ys: jax.Array) -> jax.Array:
    """Mean loss over batches xs, ys (n, B, T) in the model's mode: dropout off after model.eval()."""
    graphdef, state = nnx.split(model)  # lax.map's body is another trace: the model is rebuilt there
    return jax.lax.map(lambda b: nnx.merge(graphdef, state)(b[0], b[1])[1], (xs, ys)).mean()  # (n,) -> ()


def train(model: nnx.Module, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          key: jax.Array | int | None = None, desc: str = "nnx") -> History:
    """Train the model in place for max_iters AdamW steps; dropout reseeded from key (default: cfg.seed)."""
    max_iters = cfg.max_iters if max_iters is None else max_iters
    eval_interval = cfg.eval_interval if eval_interval is None else eval_interval
    evals = eval_data(sampler, cfg) if evals is None else evals
    checks.check_host_ids(model.vocab_size, *(a for pair in evals.values() for a in pair))
    eval_batches = [(jnp.asarray(x), jnp.asarray(y)) for x, y in (evals["train"], evals["val"])]
    nnx.pop(model, nnx.Intermediate)  # a forward pass's leftovers would change the model's structure
    nnx.reseed(model, dropout=cfg.seed if key is None else key)
    optimizer = make_optimizer(model, cfg)

    @nnx.jit  # model and optimizer are arguments: what the program changes in them is written back to them
    def run(model, optimizer, xs, ys):  # a chunk's steps, one program
        state, losses = jax.lax.scan(make_step(model, optimizer), nnx.state((model, optimizer)), (xs, ys))
        nnx.update((model, optimizer), state)
        return losses
    evaluator, history, programs = nnx.jit(evaluate), History("nnx"), {}

    def compiled(fn, *args):  # ahead of time, once per input shape: no clock below counts a compilation
        shapes = tuple(a.shape for a in jax.tree_util.tree_leaves(nnx.state(args)))
        return compiled_once(programs, history, (fn, shapes), lambda: fn.lower(*args).compile())

    def estimate() -> tuple[float, float]:
        model.eval()  # dropout off, as torch's model.eval(); the run ends here, the model left in eval mode
        return tuple(float(compiled(evaluator, model, x, y)(model, x, y)) for x, y in eval_batches)

    def chunk(start: int, stop: int) -> tuple[list[float], float]:
        model.train()  # dropout on
        xs, ys = sampler.sample_many(stop - start, "train")  # (n, B, T) each: the same stream torch draws
        checks.check_host_ids(model.vocab_size, xs, ys)  # on the host: under jit a bad id poisons the step
        xs, ys = jnp.asarray(xs), jnp.asarray(ys)
        program = compiled(run, model, optimizer, xs, ys)
        t0 = time.perf_counter()
        losses = program(model, optimizer, xs, ys).tolist()  # the chunk's one synchronisation
        return losses, time.perf_counter() - t0

    return run_chunks(history, max_iters, eval_interval, estimate, chunk, progress, desc)

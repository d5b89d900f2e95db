"""The curriculum's training loop in Flax NNX: objects changed in place, a chunk one nnx.jit program."""
import time

import jax
import jax.numpy as jnp
from flax import nnx

from learngpt import checks
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History, eval_data, run_chunks
from learngpt_nnx.optim import make_optimizer  # torch.optim.AdamW's arithmetic in an nnx.Optimizer
from learngpt_jax.training import compiled  # ahead of time (fn.lower(*args).compile()), timed apart


def step(model: nnx.Module, optimizer: nnx.Optimizer, batch) -> jax.Array:
    """One AdamW step, in place: the batch's loss before it; dropout draws from the model's own streams."""
    loss, grads = nnx.value_and_grad(lambda model: model(*batch)[1])(model)  # batch: x, y (B, T) each
    optimizer.update(model, grads)
    nnx.pop(model, nnx.Intermediate)  # what the forward pass exposed (attentions): not part of the state
    return loss


def pure(fn, *objects):
    """(call, state): call(state, *args) -> (the State after, fn(*objects, *args)), the objects rebuilt."""
    graphdef, state = nnx.split(objects)  # the structure, static: the mode (train(), eval()) included
    def call(state, *args):
        objects = nnx.merge(graphdef, state)  # the objects rebuilt inside the trace
        out = fn(*objects, *args)
        return nnx.state(objects), out  # their arrays taken out again
    return call, state


def make_step(model: nnx.Module, optimizer: nnx.Optimizer):
    """step on the State of (model, optimizer), what lax.scan carries: (state, (x, y)) -> (state, loss)."""
    return pure(step, model, optimizer)[0]


def evaluate(model: nnx.Module, xs: jax.Array, ys: jax.Array) -> jax.Array:
    """Mean loss over batches xs, ys (n, B, T) in the model's mode: dropout off after model.eval()."""
    loss, state = pure(lambda model, x, y: model(x, y)[1], model)  # lax.map's body is another trace
    return jax.lax.map(lambda b: loss(state, *b)[1], (xs, ys)).mean()  # (n,) -> ()


@nnx.jit  # one program per structure (graphdef), kept: another train() of the same model compiles nothing
def run(model, optimizer, xs, ys) -> jax.Array:  # a chunk's steps; what they change is written back
    state, losses = jax.lax.scan(make_step(model, optimizer), nnx.state((model, optimizer)), (xs, ys))
    nnx.update((model, optimizer), state)
    return losses


evaluator = nnx.jit(evaluate)  # kept like run


def train(model: nnx.Module, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          key: jax.Array | int | None = None, desc: str = "nnx") -> History:
    """Train the model in place for max_iters AdamW steps; dropout reseeded from key (default: cfg.seed)."""
    evals = eval_data(sampler, cfg) if evals is None else evals
    checks.check_host_ids(model.vocab_size, *(a for pair in evals.values() for a in pair))
    eval_batches = [(jnp.asarray(x), jnp.asarray(y)) for x, y in (evals["train"], evals["val"])]
    nnx.pop(model, nnx.Intermediate)  # a forward pass's leftovers would change the model's structure
    nnx.reseed(model, dropout=cfg.seed if key is None else key)
    optimizer, history = make_optimizer(model, cfg), History("nnx")

    def estimate() -> tuple[float, float]:
        model.eval()  # dropout off, as torch's model.eval(); the run ends here, the model left in eval mode
        return tuple(float(compiled(history, evaluator, model, x, y)(model, x, y)) for x, y in eval_batches)

    def chunk(start: int, stop: int) -> tuple[list[float], float]:
        model.train()  # dropout on
        xs, ys = sampler.sample_many(stop - start, "train")  # (n, B, T) each: what n calls of sample() draw
        checks.check_host_ids(model.vocab_size, xs, ys)  # on the host, before any step: none reads ids back
        xs, ys = jnp.asarray(xs), jnp.asarray(ys)
        program = compiled(history, run, model, optimizer, xs, ys)
        t0 = time.perf_counter()
        losses = program(model, optimizer, xs, ys).tolist()  # the chunk's one synchronisation
        return losses, time.perf_counter() - t0

    return run_chunks(history, cfg, max_iters, eval_interval, estimate, chunk, progress, desc)

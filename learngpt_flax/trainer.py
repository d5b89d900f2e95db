"""The curriculum's training loop in Flax: a jitted AdamW step, the steps between evaluations one lax.scan."""
import time
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from learngpt import checks
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History, eval_data, run_chunks
from learngpt_flax.optim import make_optimizer  # torch.optim.AdamW's arithmetic as an optax transformation
from learngpt_jax.training import compiled  # ahead of time (fn.lower(*args).compile()), timed apart


def make_step(model, optimizer: optax.GradientTransformation) -> Callable:
    """One AdamW step: (params, opt_state, key), (x, y) -> the new state, the loss before the update."""
    def step(state, batch):
        params, opt_state, key = state
        x, y = batch  # (B, T), (B, T)
        key, dropout_key = jax.random.split(key)  # dropout draws from a key split off the state's

        def loss_fn(p):
            _, loss = model.apply({"params": p}, x, y, deterministic=False, rngs={"dropout": dropout_key})
            return loss
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, key), loss
    return step


def make_evaluate(model) -> Callable:
    """Mean loss over batches xs, ys (n, B, T), deterministic (dropout off), jitted as one program."""
    @jax.jit
    def evaluate(params, xs, ys):
        losses = jax.lax.map(lambda b: model.apply({"params": params}, b[0], b[1])[1], (xs, ys))  # (n,)
        return losses.mean()
    return evaluate


def train(model, params, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          key: jax.Array | None = None, desc: str = "flax") -> tuple[dict, History]:
    """Train for max_iters AdamW steps on sampler's batches; returns the new params and the history."""
    evals = eval_data(sampler, cfg) if evals is None else evals
    checks.check_host_ids(model.vocab_size, *(a for pair in evals.values() for a in pair))
    eval_batches = [(jnp.asarray(x), jnp.asarray(y)) for x, y in (evals["train"], evals["val"])]
    optimizer = make_optimizer(cfg)
    state = (params, optimizer.init(params), jax.random.key(cfg.seed) if key is None else key)
    run = jax.jit(lambda state, xs, ys: jax.lax.scan(make_step(model, optimizer), state, (xs, ys)))
    evaluate, history = make_evaluate(model), History("flax")

    def estimate() -> tuple[float, float]:
        params = state[0]
        return tuple(float(compiled(history, evaluate, params, x, y, closes_over=model)(params, x, y))
                     for x, y in eval_batches)

    def chunk(start: int, stop: int) -> tuple[list[float], float]:
        nonlocal state
        xs, ys = sampler.sample_many(stop - start, "train")  # (n, B, T) each: what n calls of sample() draw
        checks.check_host_ids(model.vocab_size, xs, ys)  # on the host, before any step: none reads ids back
        xs, ys = jnp.asarray(xs), jnp.asarray(ys)
        program = compiled(history, run, state, xs, ys, closes_over=(model, optimizer))
        t0 = time.perf_counter()
        state, losses = program(state, xs, ys)
        losses = losses.tolist()  # the chunk's one synchronisation
        return losses, time.perf_counter() - t0

    history = run_chunks(history, cfg, max_iters, eval_interval, estimate, chunk, progress, desc)
    return state[0], history

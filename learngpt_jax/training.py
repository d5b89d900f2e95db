"""The compiled training loop of the JAX trainers beyond the lessons (fast.py and parallel.py of learngpt_flax
and learngpt_nnx): the lessons' loop (learngpt_flax/trainer.py) over a state pytree, given its programs, where
the batches go and how a program is compiled. Both Flax APIs reach it with a pytree: linen's state is one,
NNX's the State nnx.split takes out of the model and optimizer."""
from __future__ import annotations

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from learngpt import checks
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History, compiled_once, run_chunks


def platform_of(tree) -> str:
    """cpu, gpu, ...: where the first jax array of tree lives (the default backend if none is one)."""
    for leaf in jax.tree_util.tree_leaves(tree):
        if isinstance(leaf, jax.Array):
            return next(iter(leaf.devices())).platform
    return jax.default_backend()


def signature(args) -> tuple:
    """What a program compiled for args depends on besides its code: their platform (platform_of), 64-bit
    mode, the args' structure, shapes and dtypes."""
    return (platform_of(args), jax.config.jax_enable_x64, str(jax.tree_util.tree_structure(args)),
            *((np.shape(a), str(a.dtype)) for a in jax.tree_util.tree_leaves(args)))


KEPT: dict[tuple, Any] = {}  # (what a closure closes over, signature) -> its program, for the process


def compiled(history: History, fn, *args, closes_over: object = None):
    """fn (a jax.jit or nnx.jit function) compiled ahead of time for args, the seconds it took added to
    history.compile_seconds, so that no clock of the steps counts a compilation. jax.jit keeps the program:
    another call of fn for inputs of the same shapes compiles nothing. closes_over names what fn closes over
    (a linen model, an optimizer), compared by repr (a linen module holding a list does not hash): the program
    is then kept for the process, and a new jax.jit of the same closure compiles nothing either."""
    key = None if closes_over is None else (repr(closes_over), *signature(args))
    if key in KEPT:
        return KEPT[key]
    t0 = time.perf_counter()
    program = fn.lower(*args).compile()
    history.compile_seconds += time.perf_counter() - t0
    if key is not None:
        KEPT[key] = program
    return program


def ahead_of_time(role: str, fn, *args):
    """fn (a jitted function) compiled for args, XLA's defaults."""
    return fn.lower(*args).compile()


def train(state, run: Callable, evaluate: Callable, cfg: Config, sampler: BatchSampler, evals: dict,
          vocab_size: int, backend: str, max_iters: int | None = None, eval_interval: int | None = None,
          progress: bool = False, desc: str = "", one_step: bool = False, compile: Callable = ahead_of_time,
          put: Callable = jnp.asarray, read: Callable = np.asarray,
          params: Callable = lambda state: state) -> tuple[Any, History]:
    """max_iters steps from state on sampler's batches; returns the last state and the history. run(state,
    xs, ys) -> (state, losses) runs a chunk's (n, B, T) batches as one program or, one_step, run(state, (x,
    y)) -> (state, loss) one batch per Python call; evaluate(params(state), xs, ys) is the mean loss over
    evals' fixed batches. Each program is compile(role, fn, *args), once per input shape, its time counted
    apart; put lays a host batch where the programs read it, read brings a result back to the host."""
    history, programs = History(backend), {}

    def program_for(role: str, fn, *args):  # ahead of time, once per input shape (compile may be custom)
        shapes = tuple(np.shape(a) for a in jax.tree_util.tree_leaves(args))
        return compiled_once(programs, history, (role, shapes), lambda: compile(role, fn, *args))

    checks.check_host_ids(vocab_size, *(a for pair in evals.values() for a in pair))
    eval_arrays = {split: (put(x), put(y)) for split, (x, y) in evals.items()}

    def estimate() -> tuple[float, float]:
        return tuple(float(read(program_for("eval", evaluate, params(state), *eval_arrays[split])(
            params(state), *eval_arrays[split]))) for split in ("train", "val"))

    def chunk(start: int, stop: int) -> tuple[np.ndarray, float]:
        nonlocal state
        xs, ys = sampler.sample_many(stop - start, "train")  # (n, B, T) each: the same stream torch draws
        checks.check_host_ids(vocab_size, xs, ys)  # on the host: under jit a bad id poisons the step
        xs, ys = put(xs), put(ys)
        if one_step:
            program, losses = program_for("step", run, state, (xs[0], ys[0])), []
            t0 = time.perf_counter()
            for x, y in zip(np.asarray(xs), np.asarray(ys)):  # host rows: indexing a jax array dispatches
                state, loss = program(state, (x, y))
                losses.append(loss)
            losses = jnp.stack(losses)
        else:
            program = program_for("scan", run, state, xs, ys)
            t0 = time.perf_counter()
            state, losses = program(state, xs, ys)
        losses = read(jax.block_until_ready(losses))
        return losses, time.perf_counter() - t0

    history = run_chunks(history, cfg, max_iters, eval_interval, estimate, chunk, progress, desc)
    return state, history

"""Data parallel in Flax NNX: one program over a mesh of devices; the batch is laid out over the mesh's axis
and the compiler inserts the all-reduce of the gradients.

The same lesson as learngpt_flax/parallel.py, whose mesh, layouts and process set-up this file uses as they
are (they are JAX's, not linen's): what NNX changes is only where the state lives. nnx.split takes the
model and its nnx.Optimizer apart into a graphdef and a State; the State's arrays are laid out over the mesh
(shard_params: the params and AdamW moments split along an axis, the FSDP lesson), and one jax.jit program
of lax.scan over the single-device step, rebuilt inside it with nnx.merge, trains them.
"""
from __future__ import annotations

import time
from typing import Callable

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from learngpt import checks
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.parallel import World, check_split
from learngpt.training import History, compiled_once, eval_data, run_chunks
from learngpt_flax.parallel import (AXIS, collectives, distribute, initialize, local, make_mesh, place,
                                    seed_dropout, shard_batch, shardings, shutdown)
from learngpt_nnx import trainer
from learngpt_nnx.optim import make_optimizer  # torch.optim.AdamW's arithmetic in an nnx.Optimizer

__all__ = ["AXIS", "collectives", "initialize", "shutdown", "make_mesh", "shard_batch", "seed_dropout",
           "dropout_masks", "make_evaluate", "held", "gather_into", "train"]


def dropout_masks(shape: tuple, rate: float, seed: int, mesh: Mesh) -> list[np.ndarray]:
    """The keep-masks an nnx.Dropout draws on a global (B, ...) batch laid out over the mesh, with the key
    seed_dropout(seed): one array (B/N, ...) per device of this process, in mesh order."""
    sharded = NamedSharding(mesh, P(AXIS))
    dropout = nnx.Dropout(rate)
    draw = jax.jit(lambda key, x: dropout(x, rngs=key) != 0, out_shardings=sharded)
    masks = draw(place(seed_dropout(seed), NamedSharding(mesh, P())), place(np.ones(shape), sharded))
    shards = sorted(masks.addressable_shards, key=lambda s: s.index[0].start)  # (B/N, ...) each
    return [np.asarray(s.data) for s in shards]


def make_evaluate(graphdef, mesh: Mesh):
    """Mean loss over batches xs, ys (n, B, T) laid out over the mesh, dropout off: the single-device
    evaluation on the model rebuilt from its State, partitioned; the mean is replicated on every device."""
    def evaluate(state, xs, ys):
        model, _ = nnx.merge(graphdef, state)
        model.eval()  # dropout off: the attribute is static, set while traced
        return trainer.evaluate(model, xs, ys)
    return jax.jit(evaluate, out_shardings=NamedSharding(mesh, P()))


def held(state: nnx.State) -> dict[str, int]:
    """Numbers held by one device of this process: parameter elements and AdamW moment elements."""
    def here(tree) -> int:
        return sum(a.addressable_shards[0].data.size for a in jax.tree_util.tree_leaves(tree))
    params, optimizer = state[0], state[1]  # the model's State, the optimizer's
    moments = optimizer["opt_state"]  # optax's ScaleByAdamState: count, mu, nu
    return {"params": here(nnx.state(params, nnx.Param)), "adamw": here((moments["mu"], moments["nu"]))}


def _here(a: jax.Array) -> jax.Array:
    """A replicated array as this process's own copy, on its default device (keys stay keys)."""
    if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(_here(jax.random.key_data(a)))
    return jax.numpy.asarray(local(a))


def gather_into(model: nnx.Module, state: nnx.State, mesh: Mesh) -> None:
    """The trained State's model part (parameters, dropout streams) whole into model, in place: sharded arrays
    are all-gathered first (every process must call this)."""
    whole = jax.jit(lambda t: t, out_shardings=NamedSharding(mesh, P()))(state[0])
    nnx.update(model, jax.tree_util.tree_map(_here, whole))


def train(model: nnx.Module, cfg: Config, sampler: BatchSampler, world: World, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, mesh: Mesh | None = None,
          shard_params: bool = False, progress: bool = False, desc: str = "nnx",
          make_step: Callable = trainer.make_step) -> tuple:
    """max_iters AdamW steps of the global batches over the mesh's devices; returns the State of (model,
    optimizer) laid out over the mesh (gather_into() writes the model part back) and the history, whose
    losses are the global batches' on every process. make_step: the single-device step (or fast.make_step)."""
    mesh = make_mesh(world) if mesh is None else mesh
    check_split(cfg.batch_size, mesh.size, "the mesh's devices")
    max_iters = cfg.max_iters if max_iters is None else max_iters
    eval_interval = cfg.eval_interval if eval_interval is None else eval_interval
    evals = eval_data(sampler, cfg) if evals is None else evals
    nnx.pop(model, nnx.Intermediate)  # a forward pass's leftovers would change the model's structure
    nnx.reseed(model, dropout=seed_dropout(cfg.seed))  # one key for the mesh: each device its rows' masks
    model.train()
    optimizer = make_optimizer(model, cfg)
    graphdef, state = nnx.split((model, optimizer))
    state = distribute(state, mesh, shard_params)  # each moment laid out like its parameter when sharded
    step = make_step(model, optimizer)  # the single-device step, unchanged

    def pure(state, batch):  # (State, (x, y)) -> (State, loss), as learngpt_nnx/fast.py's Scanned
        model, optimizer = nnx.merge(graphdef, state)
        loss = step(model, optimizer, batch)
        return nnx.state((model, optimizer)), loss

    layout = jax.tree_util.tree_map(lambda a: a.sharding, state)
    batches = NamedSharding(mesh, P(None, AXIS, None))  # (n, B, T): rows over the mesh
    scan = jax.jit(lambda state, xs, ys: jax.lax.scan(pure, state, (xs, ys)),
                   in_shardings=(layout, batches, batches), out_shardings=(layout, NamedSharding(mesh, P())))
    evaluate = make_evaluate(graphdef, mesh)
    history = History("nnx")
    checks.check_host_ids(model.vocab_size, *(a for pair in evals.values() for a in pair))
    eval_arrays = {split: (shard_batch(x, mesh), shard_batch(y, mesh)) for split, (x, y) in evals.items()}
    programs: dict = {}

    def compile_once(name, fn, *args):  # ahead of time, once per input shape
        shapes = tuple(np.shape(a) for a in jax.tree_util.tree_leaves(args))
        return compiled_once(programs, history, (name, shapes), lambda: fn.lower(*args).compile())

    def estimate() -> tuple[float, float]:
        return tuple(float(local(compile_once("eval", evaluate, state, *eval_arrays[split])(
            state, *eval_arrays[split]))) for split in ("train", "val"))

    def chunk(start: int, stop: int) -> tuple[np.ndarray, float]:
        nonlocal state
        xs, ys = sampler.sample_many(stop - start, "train")  # (n, B, T) each: the global batches
        checks.check_host_ids(model.vocab_size, xs, ys)  # on the host: under jit a bad id poisons the step
        xs, ys = shard_batch(xs, mesh), shard_batch(ys, mesh)  # each device its rows, (n, B/N, T)
        run = compile_once("scan", scan, state, xs, ys)
        t0 = time.perf_counter()
        state, losses = run(state, xs, ys)
        losses = local(jax.block_until_ready(losses))  # replicated: every process reads its own copy
        return losses, time.perf_counter() - t0

    history = run_chunks(history, max_iters, eval_interval, estimate, chunk, progress and world.rank == 0,
                         desc)
    model.eval()
    return state, history

"""Data parallel in Flax NNX: one program over a mesh of devices; the batch is laid out over the mesh's axis
and the compiler inserts the all-reduce of the gradients.

The same lesson as learngpt_flax/parallel.py, on the same mesh and layouts (learngpt_jax/parallel.py: they
are JAX's, not linen's): what NNX changes is only where the state lives. nnx.split takes the model and its
nnx.Optimizer apart into a graphdef and a State; the State's arrays are laid out over the mesh (shard_params:
the params and AdamW moments split along an axis, the FSDP lesson), and one jax.jit program of lax.scan over
the single-device step, rebuilt inside it with nnx.merge, trains them.
"""
from __future__ import annotations

from typing import Callable

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.parallel import World, check_split
from learngpt.training import eval_data
from learngpt_jax import training
from learngpt_jax.parallel import (AXIS, collectives, distribute, elements_here, initialize,  # noqa: F401
                                   local, make_mesh, place, replicated, seed_dropout, shard_batch, shutdown)
from learngpt_nnx import fast, trainer
from learngpt_nnx.optim import make_optimizer  # torch.optim.AdamW's arithmetic in an nnx.Optimizer


def dropout_masks(shape: tuple, rate: float, seed: int, mesh: Mesh) -> list[np.ndarray]:
    """The keep-masks an nnx.Dropout draws on a global (B, ...) batch laid out over the mesh, with the key
    seed_dropout(seed): one array (B/N, ...) per device of this process, in mesh order."""
    sharded = NamedSharding(mesh, P(AXIS))
    dropout = nnx.Dropout(rate)
    draw = jax.jit(lambda key, x: dropout(x, rngs=key) != 0, out_shardings=sharded)
    masks = draw(place(seed_dropout(seed), NamedSharding(mesh, P())), place(np.ones(shape), sharded))
    shards = sorted(masks.addressable_shards, key=lambda s: s.index[0].start)  # (B/N, ...) each
    return [np.asarray(s.data) for s in shards]


def held(state: nnx.State) -> dict[str, int]:
    """Numbers held by one device of this process: parameter elements and AdamW moment elements."""
    params, optimizer = state[0], state[1]  # the model's State, the optimizer's
    moments = optimizer["opt_state"]  # optax's ScaleByAdamState: count, mu, nu
    return {"params": elements_here(nnx.state(params, nnx.Param)),
            "adamw": elements_here((moments["mu"], moments["nu"]))}


def _here(a: jax.Array) -> jax.Array:
    """A replicated array as this process's own copy, on its default device (keys stay keys)."""
    if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(_here(jax.random.key_data(a)))
    return jax.numpy.asarray(local(a))


def gather_into(model: nnx.Module, state: nnx.State, mesh: Mesh) -> None:
    """The trained State's model part (parameters, dropout streams) whole into model, in place: sharded arrays
    are all-gathered first (every process must call this)."""
    nnx.update(model, jax.tree_util.tree_map(_here, replicated(state[0], mesh)))


def train(model: nnx.Module, cfg: Config, sampler: BatchSampler, world: World, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, mesh: Mesh | None = None,
          shard_params: bool = False, progress: bool = False, desc: str = "nnx",
          make_step: Callable = trainer.make_step) -> tuple:
    """max_iters AdamW steps of the global batches over the mesh's devices; returns the State of (model,
    optimizer) laid out over the mesh (gather_into() writes the model part back) and the history, whose
    losses are the global batches' on every process. make_step: the single-device step (or fast.make_step)."""
    mesh = make_mesh(world) if mesh is None else mesh
    check_split(cfg.batch_size, mesh.size, "the mesh's devices")
    evals = eval_data(sampler, cfg) if evals is None else evals
    nnx.pop(model, nnx.Intermediate)  # a forward pass's leftovers would change the model's structure
    nnx.reseed(model, dropout=seed_dropout(cfg.seed))  # one key for the mesh: each device its rows' masks
    model.train()
    optimizer = make_optimizer(model, cfg)
    state = distribute(nnx.state((model, optimizer)), mesh, shard_params)  # moments laid out as their params
    step = make_step(model, optimizer)  # the single-device step, unchanged: (State, (x, y)) -> (State, loss)
    layout = jax.tree_util.tree_map(lambda a: a.sharding, state)
    batches = NamedSharding(mesh, P(None, AXIS, None))  # (n, B, T): rows over the mesh
    scan = jax.jit(lambda state, xs, ys: jax.lax.scan(step, state, (xs, ys)),
                   in_shardings=(layout, batches, batches), out_shardings=(layout, NamedSharding(mesh, P())))
    evaluate = jax.jit(fast.make_evaluate(model, optimizer), out_shardings=NamedSharding(mesh, P()))
    state, history = training.train(state, scan, evaluate, cfg, sampler, evals, model.vocab_size, "nnx",
                                    max_iters, eval_interval, progress and world.rank == 0, desc,
                                    put=lambda x: shard_batch(x, mesh), read=local)
    model.eval()
    return state, history

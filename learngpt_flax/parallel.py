"""Data parallel in Flax linen: one program over a mesh of devices; the batch is laid out over the mesh's axis
and the compiler inserts the all-reduce of the gradients.

Every process runs this file's train() on the global arrays (one process: all its devices; several: each
holds its devices' rows). The step is the single-device make_step, unchanged: NamedSharding says which device
holds which rows (learngpt_jax/parallel.py: the mesh and the layouts), jit partitions the program, and the
mean over the batch becomes a local sum plus an all-reduce that XLA inserts. Laying out the params and the
AdamW state over the same axis (shard_params) is the FSDP lesson: the compiler then gathers the weights where
a device needs them.
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.parallel import World, check_split
from learngpt.training import eval_data
from learngpt_flax import trainer
from learngpt_flax.optim import make_optimizer  # torch.optim.AdamW's arithmetic as an optax transformation
from learngpt_jax import training
from learngpt_jax.parallel import (AXIS, collectives, distribute, elements_here, initialize,  # noqa: F401
                                   local, make_mesh, place, replicated, seed_dropout, shard_batch, shardings,
                                   shutdown)


def dropout_masks(shape: tuple, rate: float, seed: int, mesh: Mesh) -> list[np.ndarray]:
    """The keep-masks dropout draws on a global (B, ...) batch laid out over the mesh, with the key
    seed_dropout(seed): one array (B/N, ...) per device of this process, in mesh order."""
    sharded = NamedSharding(mesh, P(AXIS))
    dropout = nn.Dropout(rate)
    draw = jax.jit(lambda key, x: dropout.apply({}, x, deterministic=False, rngs={"dropout": key}) != 0,
                   out_shardings=sharded)
    masks = draw(place(seed_dropout(seed), NamedSharding(mesh, P())), place(np.ones(shape), sharded))
    shards = sorted(masks.addressable_shards, key=lambda s: s.index[0].start)  # (B/N, ...) each
    return [np.asarray(s.data) for s in shards]


def make_evaluate(model, mesh: Mesh):
    """Mean loss over batches xs, ys (n, B, T) laid out over the mesh, dropout off: the single-device
    program, partitioned; the mean is replicated on every device."""
    return jax.jit(trainer.make_evaluate(model), out_shardings=NamedSharding(mesh, P()))


def held(state) -> dict[str, int]:
    """Numbers held by one device of this process: parameter elements and AdamW moment elements."""
    params, opt_state, _ = state
    return {"params": elements_here(params), "adamw": elements_here((opt_state.mu, opt_state.nu))}


def gather(tree, mesh: Mesh):
    """Every array whole, as numpy: sharded ones are all-gathered first (every process must call this)."""
    return jax.tree_util.tree_map(local, replicated(tree, mesh))


def train(model, params, cfg: Config, sampler: BatchSampler, world: World, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, mesh: Mesh | None = None,
          shard_params: bool = False, progress: bool = False, desc: str = "flax",
          make_step: Callable = trainer.make_step) -> tuple:
    """max_iters AdamW steps of the global batches over the mesh's devices; returns the state (params laid
    out over the mesh, gather() reads them, AdamW state and key) and the history, whose losses are the
    global batches' on every process. make_step: the single-device step (learngpt_flax.fast.make_step too)."""
    mesh = make_mesh(world) if mesh is None else mesh
    check_split(cfg.batch_size, mesh.size, "the mesh's devices")
    evals = eval_data(sampler, cfg) if evals is None else evals
    optimizer = make_optimizer(cfg)
    params = distribute(params, mesh, shard_params)
    # the AdamW state is made where it lives: each moment laid out like its parameter, the count replicated
    opt_state = jax.jit(optimizer.init, out_shardings=shardings(jax.eval_shape(optimizer.init, params), mesh,
                                                                shard_params))(params)
    state = (params, opt_state, place(seed_dropout(cfg.seed), NamedSharding(mesh, P())))
    step = make_step(model, optimizer)  # the single-device step, unchanged
    layout = jax.tree_util.tree_map(lambda a: a.sharding, state)
    batches = NamedSharding(mesh, P(None, AXIS, None))  # (n, B, T): rows over the mesh
    scan = jax.jit(lambda state, xs, ys: jax.lax.scan(step, state, (xs, ys)),
                   in_shardings=(layout, batches, batches), out_shardings=(layout, NamedSharding(mesh, P())))
    return training.train(state, scan, make_evaluate(model, mesh), cfg, sampler, evals, model.vocab_size,
                          "flax", max_iters, eval_interval, progress and world.rank == 0, desc,
                          put=lambda x: shard_batch(x, mesh), read=local, params=lambda state: state[0])

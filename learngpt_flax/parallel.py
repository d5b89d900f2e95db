"""Data parallel in JAX: one program over a mesh of devices; the batch is laid out over the mesh's axis and
the compiler inserts the all-reduce of the gradients.

Every process runs this file's train() on the global arrays (one process: all its devices; several: each
holds its devices' rows). The step is the single-device make_step, unchanged: NamedSharding says which device
holds which rows, jit partitions the program, and the mean over the batch becomes a local sum plus an
all-reduce that XLA inserts. Laying out the params and the AdamW state over the same axis (shard_params) is
the FSDP lesson: the compiler then gathers the weights where a device needs them.
"""
from __future__ import annotations

import time
from typing import Callable

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from learngpt import checks
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.parallel import World, check_split
from learngpt.training import History, compiled_once, eval_data, run_chunks
from learngpt_flax import trainer
from learngpt_flax.optim import make_optimizer  # torch.optim.AdamW's arithmetic as an optax transformation

AXIS = "data"  # the one mesh dimension: the devices that split the batch


def collectives(device: str) -> str:
    """The library that moves arrays between processes: gloo on CPU, NCCL on GPU (XLA's own)."""
    return "nccl" if device == "gpu" else "gloo"


def initialize(world: World, device: str = "cpu", timeout_s: float = 120.0) -> None:
    """Join the run (every process, before any JAX computation): the coordinator at world.address:port.
    Afterwards jax.devices() lists every process's devices; a dead process is noticed within timeout_s."""
    if device == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", collectives(device))
    jax.distributed.initialize(f"{world.address}:{world.port}", world.size, world.rank,
                               local_device_ids=[world.local_rank] if device == "gpu" else None,
                               initialization_timeout=int(timeout_s),
                               heartbeat_timeout_seconds=int(timeout_s),
                               shutdown_timeout_seconds=int(timeout_s))


def shutdown() -> None:
    """Leave the run: the coordinator connection is closed (every process, after its last computation)."""
    jax.distributed.shutdown()


def make_mesh(world: World, device: str = "cpu", per_process: int | None = None) -> Mesh:
    """The devices of every process (the first per_process of each, else all) as a 1-D mesh named 'data', in
    process order: device i takes slice i."""
    mine: dict[int, list] = {}
    for d in sorted(jax.devices("gpu" if device == "gpu" else "cpu"), key=lambda d: (d.process_index, d.id)):
        mine.setdefault(d.process_index, []).append(d)
    return Mesh(np.array([d for found in mine.values() for d in found[:per_process]]), (AXIS,))


def shardings(tree, mesh: Mesh, shard_params: bool = False):
    """Where each array of tree lives: replicated on every device (plain data parallel), or, shard_params,
    split along its first axis that divides over the mesh (an array with none stays whole)."""
    def sharding(a) -> NamedSharding:
        for axis, n in enumerate(np.shape(a) if shard_params else ()):
            if n % mesh.size == 0:
                return NamedSharding(mesh, P(*[None] * axis, AXIS))
        return NamedSharding(mesh, P())
    return jax.tree_util.tree_map(sharding, tree)


def distribute(tree, mesh: Mesh, shard_params: bool = False):
    """tree's host values laid out over the mesh as shardings() says (the params, before training)."""
    return jax.tree_util.tree_map(place, tree, shardings(tree, mesh, shard_params))


def place(a, sharding: NamedSharding) -> jax.Array:
    """A host value laid out as sharding says: each process fills its own devices' parts (keys included)."""
    if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(place(jax.random.key_data(a), sharding))
    a = np.asarray(a)
    a = a.astype(jax.dtypes.canonicalize_dtype(a.dtype))  # int64 -> int32 unless x64, as jnp.asarray does
    return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])


def shard_batch(x: np.ndarray, mesh: Mesh) -> jax.Array:
    """A global batch (..., B, T) laid out over the mesh: device r of N holds rows r*B/N : (r+1)*B/N."""
    check_split(x.shape[-2], mesh.size, "the mesh's devices")
    return place(x, NamedSharding(mesh, P(*[None] * (x.ndim - 2), AXIS, None)))


def local(a: jax.Array) -> np.ndarray:
    """A replicated array's value, read from this process's own copy (one that spans other processes'
    devices cannot be fetched whole)."""
    return np.asarray(a.addressable_data(0))


def seed_dropout(seed: int) -> jax.Array:
    """One key for the whole mesh: dropout's bits are a function of the key and of each element's place in
    the global array (jax_threefry_partitionable), so each device draws its own rows' masks, and the
    N-device run draws the single-device run's masks."""
    return jax.random.key(seed)


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
    def here(tree) -> int:
        return sum(a.addressable_shards[0].data.size for a in jax.tree_util.tree_leaves(tree))
    params, opt_state, _ = state
    return {"params": here(params), "adamw": here((opt_state.mu, opt_state.nu))}


def gather(tree, mesh: Mesh):
    """Every array whole, as numpy: sharded ones are all-gathered first (every process must call this)."""
    whole = jax.jit(lambda t: t, out_shardings=NamedSharding(mesh, P()))(tree)
    return jax.tree_util.tree_map(local, whole)


def train(model, params, cfg: Config, sampler: BatchSampler, world: World, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, mesh: Mesh | None = None,
          shard_params: bool = False, progress: bool = False, desc: str = "flax",
          make_step: Callable = trainer.make_step) -> tuple:
    """max_iters AdamW steps of the global batches over the mesh's devices; returns the state (params laid
    out over the mesh, gather() reads them, AdamW state and key) and the history, whose losses are the
    global batches' on every process. make_step: the single-device step (learngpt_flax.fast.make_step too)."""
    mesh = make_mesh(world) if mesh is None else mesh
    check_split(cfg.batch_size, mesh.size, "the mesh's devices")
    max_iters = cfg.max_iters if max_iters is None else max_iters
    eval_interval = cfg.eval_interval if eval_interval is None else eval_interval
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
    evaluate = make_evaluate(model, mesh)
    history = History("flax")
    checks.check_host_ids(model.vocab_size, *(a for pair in evals.values() for a in pair))
    eval_arrays = {split: (shard_batch(x, mesh), shard_batch(y, mesh)) for split, (x, y) in evals.items()}
    programs: dict = {}

    def compile_once(name, fn, *args):  # ahead of time, once per input shape
        shapes = tuple(np.shape(a) for a in jax.tree_util.tree_leaves(args))
        return compiled_once(programs, history, (name, shapes), lambda: fn.lower(*args).compile())

    def estimate() -> tuple[float, float]:
        return tuple(float(local(compile_once("eval", evaluate, state[0], *eval_arrays[split])(
            state[0], *eval_arrays[split]))) for split in ("train", "val"))

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
    return state, history

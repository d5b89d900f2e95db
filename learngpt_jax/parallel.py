"""The mesh under both Flax APIs' data parallel (learngpt_flax/parallel.py, learngpt_nnx/parallel.py): the
processes joined, the devices as a 1-D mesh, and where each array lives on it. All of it is JAX's, none of it
linen's or NNX's: NamedSharding says which device holds which part of an array, and jit partitions a program
over the mesh by the layouts of its inputs."""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from learngpt.parallel import World, check_split

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


def replicated(tree, mesh: Mesh):
    """Every array of tree whole on every device: sharded ones all-gathered (every process must call this)."""
    return jax.jit(lambda t: t, out_shardings=NamedSharding(mesh, P()))(tree)


def elements_here(tree) -> int:
    """Numbers of tree's arrays one device of this process holds."""
    return sum(a.addressable_shards[0].data.size for a in jax.tree_util.tree_leaves(tree))


def seed_dropout(seed: int) -> jax.Array:
    """One key for the whole mesh: dropout's bits are a function of the key and of each element's place in
    the global array (jax_threefry_partitionable), so each device draws its own rows' masks, and the
    N-device run draws the single-device run's masks."""
    return jax.random.key(seed)

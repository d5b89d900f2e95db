"""Data parallel in torch: one process per device, each a full replica; DDP all-reduces gradients in hooks.

Every process runs this file's train() on its own rows of the global batch. DistributedDataParallel hooks
each parameter's gradient during backward and averages it over the processes (all_reduce, in buckets) before
optimizer.step(): the update every replica applies is the one of the whole batch. fully_shard (FSDP2) keeps a
1/N slice of each parameter and of its AdamW state per process instead, gathering a block's parameters for
its forward and backward and reduce-scattering its gradients.
"""
from __future__ import annotations

import datetime
import time
import warnings

import numpy as np
import torch
import torch.distributed as dist

from learngpt import checks
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.errors import ConfigError
from learngpt.parallel import World, check_split, rank_rows, rank_seed
from learngpt.training import History, eval_data, run_chunks
from learngpt_torch import trainer
from learngpt_torch.optim import make_optimizer  # torch.optim.AdamW, every hyper-parameter stated

AXIS = "data"  # the one mesh dimension: the processes that split the batch


def collectives(device: str) -> str:
    """The library that moves gradients between processes: gloo on CPU, NCCL on GPU."""
    return "nccl" if device == "gpu" else "gloo"


def initialize(world: World, device: str = "cpu", timeout_s: float = 120.0) -> None:
    """Join the run (every process, before any collective): the process group at world.address:port.
    A collective that waits longer than timeout_s for another process raises instead of hanging."""
    if device == "gpu":
        if torch.cuda.device_count() <= world.local_rank:
            raise ConfigError(f"rank {world.rank} wants GPU {world.local_rank}; torch sees "
                               f"{torch.cuda.device_count()} CUDA device(s)")
        torch.cuda.set_device(world.local_rank)  # one GPU per process
    dist.init_process_group(collectives(device), init_method=f"tcp://{world.address}:{world.port}",
                            rank=world.rank, world_size=world.size,
                            timeout=datetime.timedelta(seconds=timeout_s))


def shutdown() -> None:
    """Leave the run: the process group is destroyed (every process, after its last collective)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def make_mesh(world: World, device: str = "cpu"):
    """The processes as a 1-D mesh named 'data' (FSDP2 shards over it; DDP needs only the process group)."""
    from torch.distributed.device_mesh import init_device_mesh
    return init_device_mesh("cuda" if device == "gpu" else "cpu", (world.size,), mesh_dim_names=(AXIS,))


def distribute(model: torch.nn.Module, mesh, shard_params: bool = False) -> torch.nn.Module:
    """DDP: a full replica per process, gradients averaged by all_reduce in backward hooks. shard_params
    (FSDP2, `fully_shard`): each parameter split along dim 0 over the mesh, per block, so that its AdamW
    state is split too; the optimizer must be made after this, from the sharded parameters."""
    if shard_params:
        from torch.distributed.fsdp import fully_shard
        # FSDP2 warns that GPTVer4's logits are a view (changed in place, a hook would be skipped): never here
        warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")
        for block in model.contextualizer.children():  # one all-gather per block, freed after its use
            fully_shard(block, mesh=mesh)
        return fully_shard(model, mesh=mesh)  # the embeddings, ln_f and lm_head
    return torch.nn.parallel.DistributedDataParallel(model)


def shard_batch(x: np.ndarray, world: World, device: torch.device) -> torch.Tensor:
    """This process's rows of a global batch (..., B, T): rank r of N takes rows r*B/N : (r+1)*B/N."""
    rows = rank_rows(x.shape[-2], world.rank, world.size)
    return torch.as_tensor(x[..., rows, :], device=device)  # (..., B/N, T)


def mean_over_ranks(t: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of t over the processes (each holds the mean of an equal slice: so, the global mean)."""
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)  # gloo has no AVG
    return t / world.size


def seed_dropout(seed: int, world: World) -> int:
    """torch draws dropout masks from the process's global generator: each rank seeds its own with its own
    seed, so each draws its own masks, the same ones again for the same seed. Returns that seed."""
    own = rank_seed(seed, world.rank)
    torch.manual_seed(own)
    return own


def dropout_masks(shape: tuple, rate: float, seed: int, world: World) -> list[np.ndarray]:
    """The keep-masks dropout draws on this process's rows of a global (B, ...) batch after
    seed_dropout(seed): one array (B/N, ...) per device of this process (torch: one)."""
    seed_dropout(seed, world)
    rows = rank_rows(shape[0], world.rank, world.size)
    ones = torch.ones((rows.stop - rows.start,) + tuple(shape[1:]))  # (B/N, ...)
    return [(torch.nn.functional.dropout(ones, rate, training=True) != 0).numpy()]


def evaluate(model: torch.nn.Module, xs: np.ndarray, ys: np.ndarray, world: World) -> float:
    """Mean loss over the batches xs, ys (n, B, T), dropout off: each process its rows of every batch,
    the means averaged over the processes."""
    module = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    rows = rank_rows(xs.shape[1], world.rank, world.size)
    local = trainer.evaluate(module, xs[:, rows], ys[:, rows])  # (n, B/N, T) each
    return float(mean_over_ranks(torch.tensor(local, dtype=torch.float64), world))


def held(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """Numbers held by this process: parameter elements and AdamW moment elements (FSDP2: its shards)."""
    if hasattr(model, "reshard"):  # FSDP2 keeps the root's parameters gathered after a forward: free them
        model.reshard()
    def here(t: torch.Tensor) -> int:
        return (t.to_local() if hasattr(t, "to_local") else t).numel()  # a DTensor: its own shard
    moments = [v for s in optimizer.state.values() for k, v in s.items() if k in ("exp_avg", "exp_avg_sq")]
    return {"params": sum(here(p) for p in model.parameters()), "adamw": sum(here(m) for m in moments)}


def gather(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """Every tensor of the state dict whole, as numpy: FSDP2's sharded DTensors are all-gathered first
    (every process must call this)."""
    module = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    out = {}
    for name, value in module.state_dict().items():
        value = value.full_tensor() if hasattr(value, "full_tensor") else value  # DTensor: all-gather
        out[name] = value.detach().cpu().numpy().copy()
    return out


def train(model: torch.nn.Module, cfg: Config, sampler: BatchSampler, world: World, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, mesh=None,
          shard_params: bool = False, progress: bool = False, desc: str = "torch") -> tuple[tuple, History]:
    """max_iters AdamW steps of the global batches, this process on its rows; returns the state (the
    distributed model, gather() reads its weights, and the optimizer) and the history, whose losses are the
    global batches' on every process."""
    check_split(cfg.batch_size, world.size)
    evals = eval_data(sampler, cfg) if evals is None else evals
    device = next(model.parameters()).device
    if shard_params and mesh is None:
        mesh = make_mesh(world, "gpu" if device.type == "cuda" else "cpu")
    seed_dropout(cfg.seed, world)
    vocab_size = model.vocab_size
    model = distribute(model, mesh, shard_params)
    optimizer = make_optimizer(model, cfg)  # made from the distributed model's (maybe sharded) parameters
    step = trainer.make_step(model, optimizer)  # the single-device step, unchanged

    def estimate() -> tuple[float, float]:
        return evaluate(model, *evals["train"], world), evaluate(model, *evals["val"], world)

    def chunk(start: int, stop: int) -> tuple[list[float], float]:
        t0 = time.perf_counter()
        losses = []
        with checks.ids_checked():
            for _ in range(start, stop):
                xb, yb = sampler.sample("train")  # (B, T), (B, T): the global batch, on every process
                checks.check_host_ids(vocab_size, xb, yb)  # on the host: the step reads no id back
                losses.append(step(shard_batch(xb, world, device), shard_batch(yb, world, device)))
        losses = mean_over_ranks(torch.stack(losses), world).tolist()  # one collective per chunk
        return losses, time.perf_counter() - t0

    model.train()
    history = run_chunks(History("torch"), cfg, max_iters, eval_interval, estimate, chunk,
                         progress and world.rank == 0, desc)
    return (model, optimizer), history

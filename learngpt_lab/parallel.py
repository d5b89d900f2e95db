"""Data-parallel runs: the processes behind `--nproc N` and `--devices N`, started by learngpt itself.

    layout = Layout("torch", nproc=2)                  # DDP over 2 processes (gloo on CPU, NCCL on GPU)
    layout = Layout("flax", devices=2)                 # one JAX process, 2 devices (host devices on CPU)
    layout = Layout("flax", nproc=2)                   # JAX's multi-process runtime, 2 processes
    result = train(layout, cfg, corpus_path)             # result["weights"], result["history"], ...

launch() is torchrun's job done in-house, the same way for both frameworks: it picks a free port, sets
MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK and LOCAL_RANK for each of nproc spawned processes (for `--devices N`
on CPU also XLA's host-platform device count, before JAX starts there), and each process joins the run from
those variables (learngpt.parallel.World.from_env), as it would under torchrun. The processes never outlive
the command (each watches its parent, learngpt_lab/processes.py). When one dies or fails, launch() stops the
others at once and raises one line naming it; the weights come back to the caller only when every process
has finished, so a run that fails saves nothing.
"""
from __future__ import annotations

import os
import resource
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.errors import UserError
from learngpt.parallel import World, check_split
from learngpt_lab import backends
from learngpt_lab import processes
from learngpt_lab.processes import ChildDiedError
from learngpt_lab.threads import xla_flags

TIMEOUT_S = 120.0  # the longest a collective waits for another process (torch's timeout, JAX's heartbeat)


class RankDiedError(ChildDiedError):
    """A process of a data-parallel run ended without finishing (killed, or crashed outside Python)."""


@dataclass(frozen=True)
class Layout:
    """How a run is spread: nproc processes with `devices` devices each (JAX: flax, nnx), on cpu or gpu."""
    backend: str
    nproc: int = 1
    devices: int = 1
    device: str = "cpu"

    @property
    def ways(self) -> int:
        """The data-parallel degree: how many slices each global batch is cut into."""
        return self.nproc * self.devices

    def check(self, batch_size: int) -> None:
        """Refuse, in one line, what cannot run: before any process starts."""
        backends.get(self.backend)
        backends.check_device(self.device)
        for flag, n in (("--nproc", self.nproc), ("--devices", self.devices)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise UserError(f"{flag} must be a positive integer, got {n!r}")
        if self.backend == "torch" and self.devices != 1:
            raise UserError(f"--devices {self.devices}: torch runs one process per device; use --nproc "
                            f"{self.devices} (DDP) instead")
        what = "--nproc" if self.devices == 1 else ("--devices" if self.nproc == 1 else "--nproc x --devices")
        check_split(batch_size, self.ways, what)
        if self.device == "gpu":
            if self.nproc > 1 and self.devices > 1:
                raise UserError(f"--nproc {self.nproc} with --devices {self.devices} on GPU: each JAX process "
                                f"takes one GPU; use --nproc {self.ways} or --devices {self.ways}")
            check_gpu(self.backend, self.ways)  # one GPU per slice, all on this host

    def describe(self, shard_params: bool = False) -> str:
        """One line for people: 'torch DDP over 2 processes', 'nnx over 2 cpu devices of one process'."""
        if self.backend == "torch":
            return f"torch {'FSDP2 (fully_shard)' if shard_params else 'DDP'} over {self.nproc} processes"
        sharded = ", params sharded" if shard_params else ""
        if self.nproc == 1:
            return f"{self.backend} over {self.devices} {self.device} devices of one process{sharded}"
        per = f", {self.devices} devices each" if self.devices > 1 else ""
        return f"{self.backend} over {self.nproc} processes{per} (jax.distributed){sharded}"


def check_gpu(backend: str, count: int) -> None:
    """UserError unless `count` GPUs are visible to the backend's framework."""
    if backend == "torch":
        import torch
        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    else:
        import jax
        try:
            found = len(jax.devices("gpu"))
        except RuntimeError:
            found = 0
    if found < count:
        raise UserError(f"--device gpu: {backend} sees {found} GPU(s), the run needs {count} (one per device "
                        f"of the data-parallel run)")


def free_port() -> int:
    """A TCP port nobody listens on now (the run's rank 0 takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Worker:
    """What a task running in a process of the run is handed: the layout and this process's world."""
    layout: Layout
    world: World

    def get(self, dtype: str = "float32"):
        """The layout's backend in dtype."""
        return backends.get(self.layout.backend, dtype)


def run_in_world(layout: Layout, world: World, tasks: list[tuple[Callable, tuple]],
                 threads: int | None = 1) -> list:
    """What one process of a run does, started by launch() or by torchrun: join the run, run each
    task(worker, *args) in order, leave; returns the tasks' results. A failure leaves the run joined: the
    launcher (or torchrun) stops every process."""
    from learngpt_lab.threads import set_threads
    set_threads(threads, torch=layout.backend == "torch")  # before JAX starts in this process
    backend = backends.get(layout.backend)
    if layout.device == "gpu":
        check_gpu(layout.backend, layout.devices if layout.nproc == 1 else 1)
    joined = layout.backend == "torch" or world.size > 1  # one JAX process needs no runtime
    if joined:
        backend.module("parallel").initialize(world, layout.device, TIMEOUT_S)
    worker = Worker(layout, world)
    results = [task(worker, *args) for task, args in tasks]
    if joined:
        backend.module("parallel").shutdown()
    return results


def launch_tasks(layout: Layout, tasks: list[tuple[Callable, tuple]], threads: int | None = 1) -> list[list]:
    """Run every task(worker, *args), in order, in each of layout.nproc spawned processes
    (learngpt_lab/processes.py); returns results[rank][task]. A process that dies or raises stops the run:
    RankDiedError naming the first rank that died, else the lowest rank's exception, raised here once every
    process is gone."""
    port = free_port()
    jobs = []
    for rank in range(layout.nproc):
        env = World(rank, layout.nproc, rank, "127.0.0.1", port).env()
        if layout.backend != "torch" and layout.device == "cpu":  # XLA reads it when JAX starts there
            env["XLA_FLAGS"] = xla_flags(os.environ.get("XLA_FLAGS", ""),
                                         "--xla_force_host_platform_device_count", str(layout.devices))
        died = (lambda how, rank=rank: RankDiedError(
            f"rank {rank} of {layout.nproc} {how}; the run was stopped, nothing was saved"))
        jobs.append(processes.Job(_in_world, (layout, tasks, threads), f"learngpt rank {rank}", env, died))
    return processes.run_all(jobs)


def _in_world(layout: Layout, tasks: list, threads: int | None) -> list:
    """One process started by launch_tasks(): its world from the environment."""
    return run_in_world(layout, World.from_env(), tasks, threads)


def launch(layout: Layout, task: Callable, *args: Any, threads: int | None = 1) -> list:
    """task(worker, *args) in each process of the run: the results, by rank."""
    return [per_rank[0] for per_rank in launch_tasks(layout, [(task, args)], threads)]


# The tasks: module-level functions, so that a spawned process can import them.

@dataclass(frozen=True)
class Job:
    """One training of NanoGPT in a run: its config, starting weights (torch layout; None: the backend's own
    init from cfg.seed), dtype, whether the params are sharded, and characters sampled after it (rank 0)."""
    cfg: dict
    init_weights: dict | None = None
    dtype: str = "float32"
    shard_params: bool = False
    max_iters: int | None = None
    eval_interval: int | None = None
    sample_tokens: int = 0
    progress: bool = False


def train_task(worker: Worker, corpus_path: str, jobs: Sequence[Job]) -> list[dict]:
    """Each job trained by the backend's data-parallel trainer. Rank 0 returns, per job: the history, the
    whole weights (torch layout), the sample, its peak RSS and wall time; the other ranks their history."""
    from learngpt.data import BatchSampler, load_corpus
    from learngpt_lab.runs import sample_text

    out, corpora = [], {}
    for job in jobs:
        t0 = time.perf_counter()
        cfg = Config.from_dict(job.cfg)
        if cfg.train_fraction not in corpora:
            corpora[cfg.train_fraction] = load_corpus(corpus_path, cfg.train_fraction)
        corpus = corpora[cfg.train_fraction]
        backend = worker.get(job.dtype)
        with backend.on(worker.layout.device):
            model = backend.create(NANOGPT.recipe(cfg), example=np.zeros((1, cfg.block_size), np.int64),
                                   seed=cfg.seed, weights=job.init_weights)
            sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
            history, held = backend.train_parallel(model, cfg, sampler, worker.world, None, job.max_iters,
                                                   job.eval_interval, job.shard_params, job.progress,
                                                   worker.layout.devices, worker.layout.device)
            result = {"history": history.to_dict(), "held": held}
            if worker.world.rank == 0:
                result["weights"] = backend.get_weights(model)
                result["vocab"] = corpus.tokenizer.chars
                t1 = time.perf_counter()
                if job.sample_tokens:
                    result["sample"] = sample_text(backend, model, corpus.tokenizer.chars, job.sample_tokens,
                                                   "\n", seed=cfg.seed)
                result["sample_seconds"] = time.perf_counter() - t1
                result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                result["wall_seconds"] = time.perf_counter() - t0
        out.append(result)
    return out


def masks_task(worker: Worker, shape: tuple, rate: float, seeds: Sequence[int]) -> list[list[np.ndarray]]:
    """The dropout keep-masks this process draws for each seed: [seed][device of this process] (B/N, ...)."""
    backend = worker.get()
    return [backend.dropout_masks(tuple(shape), rate, seed, worker.world, worker.layout.device) for seed in seeds]


def train(layout: Layout, cfg: Config, corpus_path: str, init_weights: dict | None = None, dtype: str = "float32",
          shard_params: bool = False, progress: bool = False, sample_tokens: int = 0,
          threads: int | None = 1) -> dict:
    """NanoGPT trained data-parallel as layout says: rank 0's result (history, weights, sample, ...) once every
    process has finished. Nothing is written: the caller saves the weights (only a finished run has any)."""
    layout.check(cfg.batch_size)
    job = Job(cfg.to_dict(), init_weights, dtype, shard_params, sample_tokens=sample_tokens, progress=progress)
    return launch(layout, train_task, str(corpus_path), [job], threads=threads)[0][0]

"""What data parallelism means whatever the framework: N workers, one global batch, each worker its rows.

An N-way data-parallel run trains on the global batch the single-device run draws (the shared BatchSampler,
same seed, every worker drawing it whole); worker r of N takes rows r*B/N : (r+1)*B/N. Every slice holds B/N
rows, so the mean of the N slice losses is the mean over the global batch, and the average of the N slice
gradients is its gradient: the single-device loss, gradient and AdamW update, up to the order of the sums.

A worker is a torch process (DDP: one per device) or a JAX device of the mesh (one program; a process may hold
several). The processes find each other through the variables torchrun sets (MASTER_ADDR, MASTER_PORT,
WORLD_SIZE, RANK, LOCAL_RANK); learngpt's own launcher sets the same ones, for both frameworks.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from learngpt.errors import ConfigError

ENV = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK")  # torchrun's names


@dataclass(frozen=True)
class World:
    """This process's place in the run: process `rank` of `size`, on device `local_rank` of its host, the
    processes meeting at address:port (rank 0 listens there)."""
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    address: str = "127.0.0.1"
    port: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "World | None":
        """The world torchrun (or learngpt's launcher) described in the environment; None outside one."""
        environ = os.environ if environ is None else environ
        if "WORLD_SIZE" not in environ or "RANK" not in environ:
            return None
        missing = [name for name in ENV if name not in environ]
        if missing:
            raise ConfigError(f"WORLD_SIZE and RANK are set but {', '.join(missing)} is not; a launcher such as "
                              f"torchrun sets all of {', '.join(ENV)}")
        try:
            world = cls(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ["LOCAL_RANK"]),
                        environ["MASTER_ADDR"], int(environ["MASTER_PORT"]))
        except ValueError:
            raise ConfigError("RANK, WORLD_SIZE, LOCAL_RANK and MASTER_PORT must be integers, got "
                              + ", ".join(f"{n}={environ[n]!r}" for n in ENV if n != "MASTER_ADDR")) from None
        if not 0 <= world.rank < world.size:
            raise ConfigError(f"RANK {world.rank} is outside [0, WORLD_SIZE {world.size})")
        return world

    def env(self) -> dict[str, str]:
        """The variables that describe this world to a process (what torchrun sets)."""
        return {"MASTER_ADDR": self.address, "MASTER_PORT": str(self.port), "WORLD_SIZE": str(self.size),
                "RANK": str(self.rank), "LOCAL_RANK": str(self.local_rank)}


def check_split(batch_size: int, n: int, what: str = "--nproc") -> None:
    """The batch divides into n equal slices of at least one row (ConfigError, one line, if not)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"{what} must be a positive integer, got {n!r}")
    if n > batch_size:
        raise ConfigError(f"{what} {n} is larger than the batch of {batch_size} rows; expected at most "
                          f"{batch_size} workers, each with at least one row")
    if batch_size % n:
        raise ConfigError(f"the batch of {batch_size} rows does not divide into {what} {n} equal slices; expected "
                          f"a batch size divisible by {n} (equal slices make the mean of the slice losses the "
                          f"loss of the whole batch)")


def rank_rows(batch_size: int, rank: int, n: int) -> slice:
    """Worker rank's rows of a global batch of batch_size rows split n ways: r*B/N : (r+1)*B/N."""
    check_split(batch_size, n)
    if not 0 <= rank < n:
        raise ConfigError(f"rank {rank} is outside [0, {n})")
    per = batch_size // n
    return slice(rank * per, (rank + 1) * per)


def rank_seed(seed: int, rank: int) -> int:
    """The dropout seed of worker `rank` in a run seeded `seed`: an independent stream per rank (numpy's
    SeedSequence spawn), reproducible for the seed; rank 0's differs from `seed` itself."""
    return int(np.random.SeedSequence(seed).spawn(rank + 1)[rank].generate_state(1)[0] >> 1)  # < 2^31

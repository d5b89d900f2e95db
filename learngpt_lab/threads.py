"""CPU threads for both frameworks, in one place: the command line, the tests' conftest and the tests use it."""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

from learngpt.errors import UserError


def set_threads(n: int | None, xla: bool = True, torch: bool = True) -> None:
    """Give each framework n CPU threads from now on: (torch=True) torch's intra-op pool, and (xla=True) XLA's if
    JAX has not started (XLA reads its flags once, when its CPU backend starts). None leaves the frameworks'
    own choice. torch=False leaves torch unimported (a JAX-only process starts 3 s sooner)."""
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise UserError(f"--threads must be a positive integer, got {n!r}")
    if xla and "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = xla_flags(os.environ.get("XLA_FLAGS", ""), "--xla_cpu_multi_thread_eigen",
                                            "true" if n > 1 else "false")
    if torch:
        import torch as torch_module
        torch_module.set_num_threads(n)


def pin(n: int | None) -> None:
    """This process (and the threads it starts from now on) on its first n usable cores, where the system allows
    it (Linux): XLA's CPU runtime hands work to a thread pool of its own whatever --xla_cpu_multi_thread_eigen
    says, so one thread means one core only where the process has one core. None, or n at least the cores
    usable, changes nothing."""
    if n is None or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if n < len(cores):
        os.sched_setaffinity(0, set(cores[:n]))


def xla_flags(flags: str, name: str, value: str) -> str:
    """XLA_FLAGS with `name=value` set once (an earlier setting of name replaced). XLA reads the variable up to the
    first word that does not start with "--" and silently drops everything after it ("--a=1 stray
    --xla_force_host_platform_device_count=2" gives one device), so such words are refused here."""
    words = flags.split()
    stray = [w for w in words if not w.startswith("--")]
    if stray:
        raise UserError(f"XLA_FLAGS={flags!r}: {stray[0]!r} does not start with '--'; XLA would ignore every "
                        f"flag after it")
    return " ".join([w for w in words if w.split("=", 1)[0] != name] + [f"{name}={value}"])


@contextlib.contextmanager
def threads(n: int | None, xla: bool = True) -> Iterator[None]:
    """Within the block torch runs on n intra-op threads (restored after); XLA as set_threads says."""
    import torch
    before = torch.get_num_threads()
    set_threads(n, xla)
    try:
        yield
    finally:
        torch.set_num_threads(before)

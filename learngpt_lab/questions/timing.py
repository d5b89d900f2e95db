"""The speed questions' timings, taken where nothing else in the process can move them.

`paired_forward_times(backend, components, shape, calls, rounds)` builds each named component in a fresh
spawned interpreter and times its forward pass there: the components take turns in rotating rounds (A B, B A,
...) after one untimed round, each turn `calls` calls after one untimed call, op by op and (on a compiling
backend) jitted. The child is pinned to what the answer depends on and nothing else is left to chance:

- one torch thread, and XLA's Eigen single-threaded;
- glibc's allocator keeps what a forward pass frees for the next one (no heap trimming, no mmap for
  tensors under 32 MiB), so a timed call reuses memory instead of faulting in fresh pages. Left to itself the
  allocator's choice depends on what the process did before: how the heap was left by earlier work decides
  whether a tensor of a few pages is reused or faulted in anew (docs/results/speed-conditions.json measures
  both states).

Nothing in the calling process changes. The minor page faults of each turn come back with its time, so a
reader can see the condition held.
"""
from __future__ import annotations

import ctypes
import resource

import numpy as np

from learngpt_lab import backends
from learngpt_lab.stats import rotation

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc malloc.h)
MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts on 64-bit: tensors under it come from the heap
TRIM_THRESHOLD = 2 ** 31 - 1  # the largest mallopt takes: freed memory stays with the child for reuse
INPUT_SEED = 0  # the timed input: standard normal from numpy's generator with this seed


def pin_allocator() -> bool:
    """In this process from now on: glibc keeps freed memory for reuse. False where the C library has no
    mallopt (not glibc) or refuses; the timings are then taken with the allocator's own choice."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


MODES = {"op by op": False, "jitted": True}  # name -> timed_forward's jit
# whether timed_forward(jit=True) times a compiled program: BACKENDS' `compiles`
COMPILES = {name: entry.compiles for name, entry in backends.BACKENDS.items()}


def _measure(backend_name: str, dtype: str, components: list, shape: tuple, calls: int, rounds: int,
             modes: tuple[str, ...]) -> dict:
    """In the child: see paired_forward_times."""
    pinned = pin_allocator()
    from learngpt_lab.threads import set_threads
    set_threads(1, torch=backend_name == "torch")
    backend = backends.get(backend_name, dtype)
    x = np.random.default_rng(INPUT_SEED).standard_normal(shape).astype(np.float32)
    models = [backend.create(lambda lib, name=name, args=args: getattr(lib, name)(*args), x)
              for name, args in components]
    timed = backend.adapter.timed_forward
    out = {"allocator_pinned": pinned, "modes": {}}
    for mode in modes:
        jit = MODES[mode]
        for model in models:  # a whole round untimed: the heap reaches the size the timed rounds reuse
            timed(model, x, calls, jit)
        times = [[] for _ in models]
        faults = [[] for _ in models]
        for r in range(rounds):
            for i in rotation(len(models), r):
                before = _minor_faults()
                times[i].append(timed(models[i], x, calls, jit))
                faults[i].append(_minor_faults() - before)
        out["modes"][mode] = {"times": times, "faults": faults}
    return out


def paired_forward_times(backend, components: list[tuple[str, tuple]], shape: tuple, calls: int,
                         rounds: int, modes: tuple[str, ...] = tuple(MODES)) -> dict:
    """Each component (a class name of the backend package and its constructor arguments) timed in a fresh
    process, `rounds` rotating rounds of `calls` forward calls on standard-normal input of `shape`, in each of
    `modes` ("jitted" only where the backend compiles):
    {"allocator_pinned": bool, "modes": {"op by op" | "jitted": {"times": [[s per turn] per component],
    "faults": [[minor page faults per turn] per component]}}}. Round r's times are paired: taken in turn."""
    from learngpt_lab.processes import run_child
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"unknown timing mode {sorted(unknown)[0]!r}; expected one of {', '.join(MODES)}")
    modes = tuple(m for m in modes if COMPILES[backend.name] or not MODES[m])
    return run_child(_measure, backend.name, backend.dtype, [(n, tuple(a)) for n, a in components],
                     tuple(shape), calls, rounds, modes, name=f"{backend.name} timing")

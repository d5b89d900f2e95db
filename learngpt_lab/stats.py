"""Statistics of speed measurements, framework-free: paired ratios from interleaved repeats, the spread of a
figure, and when a figure cannot be trusted.

Within one measurement the implementations run in rounds, in a rotating order (A B C, B C A, C A B, ...), and
each round gives every implementation one repeat. A ratio is computed within a round (the reference's time in
that round over the implementation's time in the same round), and the figure reported is the median of those
paired ratios: load that comes and goes (another process, a burst) hits both sides of a ratio alike, where the
ratio of two medians measured minutes apart carries whatever the load did in between.

The spread of a figure is the interquartile range over the median (IQR/median) of its repeats, or of its
paired ratios; SPREAD_LIMIT (10 %) is the limit runs recorded before until_narrow were flagged by, and what a
result's table states when its JSON names no limit of its own.

The bench pairs round after round until each headline figure's 95 % interval is narrow enough, or its budget
is spent (until_narrow); a figure whose interval stays wide is flagged: `?` in the table, `unstable`, `flags`
and `reasons` in the JSON, and one warning line under the table. The load on the machine (the 1-minute load
average, and the share of the wall time the bench's threads waited for a CPU: the run-queue delay in
/proc/self/task/*/schedstat on Linux) is measured and kept beside each figure (Load, LoadMeter), never a flag:
load that comes and goes hits both sides of a paired ratio alike, and what it does not cancel widens the
ratio's interval.
"""
from __future__ import annotations

import glob
import math
import os
import platform
import time
from importlib import metadata
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

SPREAD_LIMIT = 0.10  # IQR / median of a figure's repeats (or paired ratios): the limit of runs before until_narrow


def quartiles(values) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile), linear interpolation (numpy's default)."""
    q = np.percentile(np.asarray(values, dtype=np.float64), [25, 50, 75])
    return float(q[0]), float(q[1]), float(q[2])


def spread(values) -> float:
    """Interquartile range over median: 0.1 means the middle half of the repeats spans 10 % of the median."""
    lo, mid, hi = quartiles(values)
    return (hi - lo) / mid if mid > 0 else float("inf")


def rotation(n: int, round_index: int) -> list[int]:
    """The order of n implementations in one round: 0 1 2, then 1 2 0, then 2 0 1, ... Each takes every
    position in turn, so neither a drift within a round nor its place in it favours one of them."""
    start = round_index % n if n else 0
    return [(start + i) % n for i in range(n)]


def paired_ratios(reference, times) -> list[float]:
    """Per round, the reference's time over this implementation's (above 1: this one is faster)."""
    ref, t = np.asarray(reference, dtype=np.float64), np.asarray(times, dtype=np.float64)
    if ref.shape != t.shape:
        raise ValueError(f"paired ratios need one time per round on both sides, got {ref.shape} and {t.shape}")
    return (ref / t).tolist()


@dataclass
class Load:
    """The load on the machine during one measurement: what the bench can see of other work."""
    load_average: float | None  # the 1-minute load average, the larger of the values at start and at end
    cpu_wait: float | None  # share of the wall time the bench's threads waited for a CPU (None: not on Linux)
    cores: int  # cores the bench may use
    own_threads: int  # threads the bench keeps busy (one framework at a time: its intra-op threads)


# The machine's side: the load average and the run-queue delay of this process's threads.

def machine() -> dict:
    """What a measurement's reader needs of the machine: the CPU model, the cores (all and usable), the
    platform, the versions of Python and of the frameworks (installed or not), and the load average now."""
    cpu_model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                             cpu_model)
    except OSError:
        pass
    versions = {}
    for name in ("torch", "jax", "jaxlib", "flax", "optax", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu_model": cpu_model or "unknown", "cpu_count": os.cpu_count(), "cpus_usable": usable_cores(),
            "platform": platform.platform(), "python": platform.python_version(), "versions": versions,
            "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def free_cores(n: int, insist: bool = False) -> list[int]:
    """n of this process's cores, one for each of n single-threaded processes, when the 1-minute load average
    leaves that many free (within half a core); [] when it does not, unless insist. A UserError when this
    process may use fewer than n cores and insist."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    if insist and len(cores) < n:
        from learngpt.errors import UserError
        raise UserError(f"--concurrent yes: {n} backends need {n} cores, this process may use {len(cores)}")
    free = len(cores) - (load_average() or 0.0)
    return cores[:n] if insist or free >= n - 0.5 else []


def load_average() -> float | None:
    """The 1-minute load average, None where the system has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def run_delay_seconds() -> float | None:
    """Total time this process's threads have spent runnable but waiting for a CPU (Linux schedstat: the
    second field of /proc/self/task/*/schedstat, in nanoseconds); None where it cannot be read."""
    total, seen = 0, False
    for path in glob.glob("/proc/self/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[1])
                seen = True
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended between the listing and the read
    return total / 1e9 if seen else None


@dataclass
class LoadMeter:
    """Watches the load during one measurement: start() before, stop(wall_seconds) after."""
    own_threads: int = 1
    _load: list = field(default_factory=list)
    _delay: float | None = None

    def start(self) -> "LoadMeter":
        self._load = [load_average()]
        self._delay = run_delay_seconds()
        return self

    def stop(self, wall_seconds: float) -> Load:
        self._load.append(load_average())
        delay = run_delay_seconds()
        wait = None
        if delay is not None and self._delay is not None and wall_seconds > 0:
            wait = max(delay - self._delay, 0.0) / wall_seconds
        loads = [v for v in self._load if v is not None]
        return Load(max(loads) if loads else None, wait, usable_cores(), self.own_threads)


@dataclass
class Judged:
    """One figure of one measurement: its times (seconds per call or per step, one per round), its paired ratios
    to the reference (None when there is none; the reference's own are 1, and not judged), and until_narrow's
    verdict."""
    times: list[float]
    ratios: list[float] | None
    flags: list[str]
    reasons: list[str]
    interval: tuple[float, float] | None = None  # until_narrow: the 95 % interval of the ratio (reference: time)


# Adaptive pairing: rounds are added until each headline figure's interval is narrow enough, or a budget ends.

INTERVAL_LIMIT = 0.10  # (high - low) / median of a figure's 95 % interval above this: wide, flagged
CONFIDENCE = 0.95


def median_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """A distribution-free interval for the median of values: the sorted values' k-th smallest and k-th largest,
    k the largest with 2 P(Binomial(n, 1/2) <= k - 1) <= 1 - confidence. It holds the true median with at least
    `confidence` whatever the distribution (independent rounds), so load that comes and goes widens it but never
    fakes it. Below 6 values no such pair exists at 95 %: (min, max)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0:
        return float("nan"), float("nan")
    tail, k, cdf = (1 - confidence) / 2, 1, 0.5 ** n  # [x_(k), x_(n+1-k)] misses with 2 P(B <= k - 1)
    while k + 1 <= (n + 1) // 2:
        cdf += math.comb(n, k) * 0.5 ** n  # P(B <= k), B ~ Binomial(n, 1/2)
        if cdf > tail:
            break
        k += 1
    return float(x[k - 1]), float(x[n - k])


def interval_width(values, confidence: float = CONFIDENCE) -> float:
    """(high - low) / median of median_interval: 0.1 means the median is known to within about ±5 %."""
    lo, hi = median_interval(values, confidence)
    mid = float(np.median(values)) if len(values) else float("nan")
    return (hi - lo) / mid if mid > 0 else float("inf")


def until_narrow(one_round: Callable[[int], dict[str, float]], reference: str | None, own_threads: int,
                 headline: tuple | None = None, limit: float = INTERVAL_LIMIT, min_rounds: int = 6,
                 max_rounds: int = 60, budget_seconds: float = 60.0) -> tuple[int, Load, dict[str, "Judged"]]:
    """Pair round after round (one_round(r): each figure's time in round r, the figures taking turns) until the
    95 % interval of every headline figure (a name: its paired ratio to the reference, the reference's own time;
    a pair (a, b): b's time over a's, round by round) is narrower than limit, at least min_rounds and at most
    max_rounds rounds, or until budget_seconds are spent.
    A figure is flagged ('interval') only if its interval stays wider than limit; the load is measured and kept,
    and the times' spread is no flag: paired ratios are what load hits on both sides alike. Returns (rounds,
    load, figures)."""
    meter = LoadMeter(own_threads=own_threads).start()
    t0 = time.perf_counter()
    times: dict[str, list[float]] = {}
    r = 0
    while True:
        for name, t in one_round(r).items():
            times.setdefault(name, []).append(float(t))
        r += 1
        if r < min_rounds:
            continue
        widths = _widths(times, reference)
        wanted = [pair_width(times, *n) if isinstance(n, tuple) else widths[n] for n in (headline or tuple(times))
                  if (all(m in times for m in n) if isinstance(n, tuple) else n in times)]
        if all(w <= limit for w in wanted) or r >= max_rounds or time.perf_counter() - t0 >= budget_seconds:
            break
    load = meter.stop(time.perf_counter() - t0)
    widths = _widths(times, reference)
    figures = {}
    for name, t in times.items():
        ratios = paired_ratios(times[reference], t) if reference in times else None
        shown = t if name == reference or ratios is None else ratios
        lo, hi = median_interval(shown)
        flags, reasons = [], []
        if not widths[name] <= limit:
            flags.append("interval")
            reasons.append(f"95 % interval of the {'time' if shown is t else 'paired ratio'} [{lo:.4g}, {hi:.4g}] "
                           f"spans {widths[name]:.1%} of its median > {limit:.0%} after {r} rounds")
        figures[name] = Judged(t, ratios, flags, reasons, (lo, hi))
    return r, load, figures


def paired_figure(a_times, b_times, limit: float = INTERVAL_LIMIT) -> dict:
    """b's time over a's, round by round (above 1: a is faster): the median, its 95 % interval, the ratios, and
    until_narrow's verdict (flags ['interval'] and the reason when the interval is wider than limit)."""
    ratios = paired_ratios(b_times, a_times)
    width, (lo, hi) = interval_width(ratios), median_interval(ratios)
    wide = [f"95 % interval [{lo:.3g}, {hi:.3g}] spans {width:.1%} of its median > {limit:.0%}"] if width > limit else []
    return {"median": float(np.median(ratios)), "interval": [lo, hi], "ratios": ratios,
            "flags": ["interval"] if wide else [], "reasons": wide}


def pair_width(times: dict[str, list[float]], a: str, b: str) -> float:
    """interval_width of b's time over a's, round by round (above 1: a is faster)."""
    return interval_width(paired_ratios(times[b], times[a]))


def _widths(times: dict[str, list[float]], reference: str | None) -> dict[str, float]:
    """Each figure's interval width: its paired ratio's (the reference: its time's)."""
    out = {}
    for name, t in times.items():
        if reference in times and name != reference:
            out[name] = interval_width(paired_ratios(times[reference], t))
        else:
            out[name] = interval_width(t)
    return out

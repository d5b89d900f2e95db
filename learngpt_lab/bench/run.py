"""`learngpt bench`, the run: every planned measurement in turn, then the training loops, into one result."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict
from typing import Callable

from learngpt.config import Config
from learngpt_lab.bench.plan import CURRICULUM, IMPLS, SCHEMA, LoopMeasurement, Measurement, Plan, Size, planned
from learngpt_lab.bench.runners import Device, describe_machine, measure, measure_loops


def fill_speedups(measurements: list[Measurement]) -> None:
    eager = {(m.component, m.mode, tuple(m.size.values())): m.median_s for m in measurements
             if m.impl == "torch" and m.error is None}
    for m in measurements:
        ref = eager.get((m.component, m.mode, tuple(m.size.values())))
        if ref is not None and m.error is None and m.median_s > 0:
            m.speedup_vs_torch = ref / m.median_s


def run_bench(plan: Plan, device: Device, base: Config | None = None, corpus=None, progress: bool = True,
              log: Callable[[str], None] | None = None) -> dict:
    """Measure everything in plan; returns the JSON-ready result (machine, settings, measurements, loops)."""
    from tqdm.auto import tqdm
    base = Config() if base is None else base
    machine = describe_machine(device)
    todo = planned(plan)
    measurements: list[Measurement] = []
    started = time.perf_counter()
    bar = tqdm(todo, desc="bench", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    for impl, comp, mode, size, axis in bar:
        bar.set_postfix_str(f"{comp} {mode} {impl} {size.label}")
        measurements.append(measure(impl, comp, mode, size, axis, base, device, plan))
    bar.close()
    fill_speedups(measurements)
    loops = []
    if corpus is not None and plan.loop_steps > 0:
        if log:
            log(f"training loops: {plan.loop_steps} steps each at {plan.loop_size.label} "
                f"({', '.join(plan.loops)})")
        loops = measure_loops(plan.loop_size.config(base), corpus, plan.loop_steps, device, plan.loops)
    machine["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine,
        "settings": {"device": device.kind, "tf32": False if device.kind == "gpu" else None,
                     "repeats": plan.repeats, "warmup": plan.warmup,
                     "min_repeat_seconds": plan.min_repeat_seconds, "loop_steps": plan.loop_steps,
                     "impls": list(plan.impls), "components": list(plan.components),
                     "base_config": base.to_dict(), "torch_compile_optimizer": "eager (foreach)",
                     "wall_seconds": None},
        "measurements": [asdict(m) for m in measurements],
        "loops": [asdict(m) for m in loops],
        "summary": summary(measurements, loops),
        "_elapsed": time.perf_counter() - started,
    }


def summary(measurements: list[Measurement], loops: list[LoopMeasurement]) -> dict:
    """The headline ratios: NanoGPT training step at the curriculum's size and at the largest size."""
    train = [m for m in measurements if m.component == "NanoGPT" and m.mode == "train" and m.error is None]
    out: dict = {}
    if train:
        largest = max((Size(**m.size) for m in train), key=lambda s: s.train_gflops())
        for name, size in (("curriculum", CURRICULUM), ("largest", largest)):
            at = {m.impl: m for m in train if m.size == asdict(size)}
            out[f"nanogpt_train_{name}"] = {"size": asdict(size), **{
                impl: {"median_ms": at[impl].median_s * 1e3, "speedup_vs_torch": at[impl].speedup_vs_torch}
                for impl in IMPLS if impl in at}}
    if loops:
        out["loops_steps_per_second"] = {m.loop: m.steps_per_second for m in loops}
        out["loops_speedup_vs_torch"] = {m.loop: m.speedup_vs_torch for m in loops}
    return out

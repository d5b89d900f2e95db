"""`learngpt bench`, the run: every planned measurement in turn, then the training loops, into one result."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict
from typing import Callable

from learngpt.config import Config
from learngpt_lab.bench.plan import (CURRICULUM, HEADLINE, IMPLS, SCHEMA, LoopMeasurement, Measurement, Plan, Size,
                                     groups)
from learngpt_lab.bench.runners import Device, describe_machine, measure_group, measure_loops


def run_bench(plan: Plan, device: Device, base: Config | None = None, corpus=None, progress: bool = True,
              log: Callable[[str], None] | None = None) -> dict:
    """Measure everything in plan; returns the JSON-ready result (machine, settings, measurements, loops)."""
    from tqdm.auto import tqdm
    base = Config() if base is None else base
    machine = describe_machine(device)
    todo = groups(plan)
    measurements: list[Measurement] = []
    started = time.perf_counter()
    bar = tqdm(todo, desc="bench", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    for comp, mode, size, members in bar:
        bar.set_postfix_str(f"{comp} {mode} {size.label}: {', '.join(i for i, _ in members)}")
        measurements += measure_group(members, comp, mode, size, base, device, plan)
    bar.close()
    loops = []
    if corpus is not None and plan.loop_steps > 0:
        if log:
            log(f"training loops: {plan.loop_steps} steps each at {plan.loop_size.label} in "
                f"{plan.loop_rounds} segments taking turns ({', '.join(plan.loops)})")
        loops = measure_loops(plan.loop_size.config(base), corpus, plan.loop_steps, device, plan.loops,
                              rounds=plan.loop_rounds, threads=plan.threads, limit=plan.limit,
                              max_rounds=plan.max_rounds, budget_seconds=plan.loop_budget_seconds)
    machine["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine,
        "settings": {"device": device.kind, "tf32": False if device.kind == "gpu" else None,
                     "repeats": plan.repeats, "warmup": plan.warmup,
                     "min_repeat_seconds": plan.min_repeat_seconds, "loop_steps": plan.loop_steps,
                     "loop_rounds": plan.loop_rounds, "threads": plan.threads,
                     "spread_limit": plan.limit, "interval_limit": plan.limit, "max_rounds": plan.max_rounds,
                     "budget_seconds": plan.budget_seconds, "loop_budget_seconds": plan.loop_budget_seconds,
                     "method": "implementations take turns in rotating rounds; a ratio is the median of the "
                               "per-round ratios to torch eager, with its 95 % distribution-free interval; rounds "
                               "are added until every interval spans at most interval_limit of its median or the "
                               "budget is spent; a figure is flagged only when its interval stays wider",
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
                impl: {"median_ms": at[impl].median_s * 1e3, "speedup_vs_torch": at[impl].speedup_vs_torch,
                       "unstable": at[impl].unstable}
                for impl in IMPLS if impl in at}}
    if loops:
        out["loops_steps_per_second"] = {m.loop: m.steps_per_second for m in loops}
        out["loops_speedup_vs_torch"] = {m.loop: m.speedup_vs_torch for m in loops}
        out["loops_unstable"] = {m.loop: m.unstable for m in loops}
        out["headline"] = {f"{m.loop} / torch loop": {"median": m.speedup_vs_torch, "interval": m.interval,
                                                      "unstable": m.unstable} for m in loops if m.loop in HEADLINE}
        out["headline"].update({f"{m.loop} / {o}": {"median": v["median"], "interval": v["interval"],
                                                    "unstable": bool(v["flags"])}
                                for m in loops for o, v in m.versus.items()})
    figures = [m for m in measurements if m.error is None] + [m for m in loops if m.error is None]
    out["unstable_figures"] = sum(m.unstable for m in figures)
    out["figures"] = len(figures)
    return out

"""What `learngpt bench` shows: the terminal table, the plot, the JSON file, and docs/bench.md's numbers.

Every figure that stats.until_narrow found unstable is marked `?` (its time and the ratio beside it), drawn hollow in
the plot, and counted in one warning line under the table; the JSON keeps its flags and reasons.
docs/bench.md's blocks are generated from the JSON files by tools/docs.py.
"""
from __future__ import annotations

import json
import math
import re
import textwrap
from dataclasses import asdict
from pathlib import Path

import numpy as np

from learngpt_lab.stats import SPREAD_LIMIT
from learngpt_lab.bench.plan import AXES, COMPONENTS, CURRICULUM, IMPLS, MODES, Size

NNX_IMPLS = tuple(i for i in IMPLS if i.startswith("nnx"))


def _num(v) -> float:
    """A figure from a result or from its JSON (where NaN was written as null)."""
    return float("nan") if v is None else float(v)


def _fmt_ms(seconds: float) -> str:
    ms = _num(seconds) * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _fmt_ratio(r: float) -> str:
    r = _num(r)
    return f"{r:.2g}" if r < 10 else f"{r:.0f}"


def _half_spread(m: dict) -> float:
    med = _num(m["median_s"])
    return (_num(m["p75_s"]) - _num(m["p25_s"])) / 2 / med * 100 if med > 0 else float("nan")


def _interval(m: dict) -> str:
    """ ' [low, high]': a ratio's 95 % interval (stats.until_narrow); '' for a run that measured none."""
    lo, hi = (m.get("interval") or [None, None])[:2] if m.get("ratios") else (None, None)
    return "" if lo is None else f" [{_fmt_ratio(lo)}, {_fmt_ratio(hi)}]"


def _cell(m: dict | None, show_speedup: bool = True) -> str:
    if m is None:
        return "-"
    if m["error"]:
        return "error"
    mark = "?" if m.get("unstable") else ""
    cell = f"{_fmt_ms(m['median_s'])}{mark} ±{_half_spread(m):.0f}%"
    if show_speedup and m["impl"] != "torch":
        cell += f" ({_fmt_ratio(m['speedup_vs_torch'])}x{mark}{_interval(m)})"
    return cell


def xla_threads(machine: dict) -> str:
    """What the run's XLA_FLAGS set of XLA's CPU threads: 'Eigen 1' when --xla_cpu_multi_thread_eigen=false (its
    matmuls and convolutions single-threaded; XLA's own task pool, which runs independent kernels side by side,
    keeps its size: no flag sets it), else 'default'."""
    found = re.findall(r"--xla_cpu_multi_thread_eigen=(\w+)", machine.get("xla_flags") or "")
    return "Eigen 1" if found and found[-1] == "false" else "default"


def cores(machine: dict) -> str:
    """'2 cores', or '2 cores, pinned to 1' for a run that used fewer cores than the machine has (the load
    average counts the whole machine)."""
    count, usable = machine.get("cpu_count") or machine["cpus_usable"], machine["cpus_usable"]
    return f"{count} cores" + (f", pinned to {usable}" if usable < count else "")


def header(result: dict) -> list[str]:
    """The table's first lines: the machine, the threads and the load; then how to read a cell."""
    machine, settings = result["machine"], result["settings"]
    start, end = machine.get("load_average_at_start"), machine.get("load_average_at_end")
    load = "load average " + (f"{start[0]:.1f} at start" if start else "unknown") + (
        f", {end[0]:.1f} at end" if end else "") + f" on {cores(machine)}"
    limit = _num(settings.get("spread_limit", SPREAD_LIMIT))
    first = (f"learngpt bench on {machine['device']}: threads torch {machine['torch_threads']}, "
             f"XLA {xla_threads(machine)}; {load}; {machine['cpu_model']}"
             + (f", GPU {machine.get('gpu_name')}, TF32 off in both" if machine["device"] == "gpu" else "")
             + f"; torch {machine['versions']['torch']}, jax {machine['versions']['jax']}")
    if "interval_limit" in settings:  # adaptive rounds (stats.until_narrow)
        return [first, f"ms per call: median ±half the interquartile range over at least {settings['repeats']} "
                "rounds in which the implementations take turns; (Nx [low, high]) = median of the per-round ratios "
                "torch eager / this (above 1 is faster) and its 95 % interval; rounds are added while an interval "
                f"spans more than {limit:.0%} of its median (at most {settings['max_rounds']} rounds, "
                f"{_num(settings['budget_seconds']):.0f} s a measurement); ? = still wider: not to be read as "
                "fact; first = first call (compiles)"]
    return [first,
            f"ms per call: median ±half the interquartile range over {settings['repeats']} rounds in which the "
            "implementations take turns; (Nx) = median of the per-round ratios torch eager / this (above 1 is "
            f"faster); ? = unstable, not to be read as fact: IQR above {limit:.0%} of the median (± above "
            f"{limit / 2:.0%}) or other work on the free cores; first = first call (compiles)"]


def unstable_figures(result: dict) -> list[dict]:
    return [m for m in result["measurements"] + result["loops"] if not m["error"] and m.get("unstable")]


def warning(result: dict) -> str | None:
    """One line: how many figures are flagged, and why (counted by flag)."""
    bad = unstable_figures(result)
    if not bad:
        return None
    total = sum(not m["error"] for m in result["measurements"] + result["loops"])
    limit = _num(result["settings"].get("spread_limit", SPREAD_LIMIT))
    why = []
    for flag, words in (("time", f"times spread over {limit:.0%}"), ("ratio", f"ratios spread over {limit:.0%}"),
                        ("load", "other work on the free cores"), ("interval", f"95 % intervals over {limit:.0%}")):
        n = sum(flag in m.get("flags", []) for m in bad)
        if n:
            why.append(f"{words} ({n})")
    return (f"warning: {len(bad)} of {total} figures are unstable (marked ?) and their ratios are not facts: "
            f"{', '.join(why)}; the reasons are in the JSON; rerun on a quieter machine")


def not_measured(result: dict) -> str | None:
    """One line when the run holds no NNX figure at all (neither an NNX implementation nor an NNX loop): NNX is
    not measured, and no figure stands in for it; None when it holds one."""
    if any(m["impl"] in NNX_IMPLS for m in result["measurements"]) or any(
            lp["loop"].startswith("nnx") for lp in result["loops"]):
        return None
    return f"NNX ({', '.join(NNX_IMPLS)}, the nnx loops): not measured in this run"


def format_table(result: dict) -> str:
    """The terminal table: ms per call (median, ± half the interquartile range), paired speed-up vs torch eager,
    `?` on every unstable figure, and one warning line at the end if there is any."""
    ms = result["measurements"]
    impls = [i for i in IMPLS if any(m["impl"] == i for m in ms)]
    lines = header(result)

    # the compiled implementations' first calls (they compile): jax.jit and torch.compile always, nnx.jit if run
    compiled = [("jax.jit", "first jit"), ("torch.compile", "first compile")] + (
        [("nnx.jit", "first nnx.jit")] if "nnx.jit" in impls else [])

    def table(rows: list[tuple[str, str, list]], title: str) -> None:
        head = [title, "mode"] + impls + [label for _, label in compiled]
        body = []
        for label, mode, group in rows:
            by = {m["impl"]: m for m in group}
            firsts = [f"{_num(by[i]['first_call_s']):.2f}s" if i in by and not by[i]["error"] else "-"
                      for i, _ in compiled]
            body.append([label, mode] + [_cell(by.get(i)) for i in impls] + firsts)
        widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
        lines.append("")
        lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        for r in body:
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())

    comp_rows = []
    for comp in COMPONENTS:
        for mode in MODES:
            group = [m for m in ms if m["component"] == comp and m["mode"] == mode and m["axis"] == "components"]
            if group:
                comp_rows.append((comp, mode, group))
    if comp_rows:
        table(comp_rows, f"component at {Size(**comp_rows[0][2][0]['size']).label}")
    sweep_rows = []
    seen = set()
    swept = [m for m in ms if m["axis"] != "components"]
    # the curriculum's size is measured once (in the component table) but starts every sweep axis
    base = [m for m in ms if m["component"] == "NanoGPT" and m["size"] == asdict(CURRICULUM)] if swept else []
    for m in base + swept:
        if m["size"] == asdict(CURRICULUM):
            m = {**m, "axis": "curriculum"}
        key = (m["axis"], tuple(m["size"].values()), m["mode"])
        if key in seen:
            continue
        seen.add(key)
        group = [g for g in ms
                 if g["component"] == "NanoGPT" and g["mode"] == m["mode"] and g["size"] == m["size"]]
        size = Size(**m["size"])
        sweep_rows.append((f"{m['axis']}: {size.label} ({size.train_gflops():.2g} GF)", m["mode"], group))
    if sweep_rows:
        table(sweep_rows, "NanoGPT sweep")
    if result["loops"]:
        lines.append("")
        nnx = any(lp["loop"].startswith("nnx") for lp in result["loops"])
        lines.append(f"training loop at {Size(**result['loops'][0]['size']).label} (NanoGPT, AdamW, dropout on), "
                     "steps/s: median over segments taking turns; (Nx) = median of the per-round ratios to the "
                     "torch loop; compile and evaluation excluded; flax per-step and flax scan train with "
                     "learngpt_flax.fast, flax lesson scan with the lesson's trainer (plain jax.jit)"
                     + ("; nnx per-step and nnx scan with learngpt_nnx.fast, nnx lesson scan with the lesson's "
                        "trainer (nnx.jit)" if nnx else "") + ":")
        for lp in result["loops"]:
            if lp["error"]:
                lines.append(f"  {lp['loop']:<16} error: {lp['error']}")
                continue
            mark = "?" if lp.get("unstable") else ""
            ratio = ("the ratios' base" if lp["loop"] == "torch loop"
                     else f"{_num(lp['speedup_vs_torch']):.2f}x{mark}{_interval(lp)} torch loop")
            lines.append(f"  {lp['loop']:<16} {_num(lp['steps_per_second']):8.1f}{mark} steps/s "
                         f"±{_num(lp.get('spread')) * 50:.0f}%  ({ratio}; {lp.get('rounds', 0)} segments of "
                         f"{lp.get('segment_steps', 0)} steps, compile {_num(lp['compile_seconds']):.1f}s)")
            for other, v in lp.get("versus", {}).items():  # paired round by round with another loop
                bad = "?" if v["flags"] else ""
                lines.append(f"  {lp['loop'] + ' / ' + other:<33} {_num(v['median']):.2f}x{bad} "
                             f"[{_fmt_ratio(v['interval'][0])}, {_fmt_ratio(v['interval'][1])}] (paired rounds)")
    for m in ms:
        if m["error"]:
            lines.append(f"error: {m['component']} {m['mode']} {m['impl']} {Size(**m['size']).label}: "
                         f"{m['error']}")
    absent = not_measured(result)
    if absent:
        lines.append("")
        lines.append(absent)
    warn = warning(result)
    if warn:
        lines.append("")
        lines.append(warn)
    return "\n".join(lines)


def _on_axis(m: dict, axis: str) -> bool:
    """Whether measurement m lies on a sweep axis: the curriculum's size starts every axis."""
    if m["axis"] == axis or m["size"] == asdict(CURRICULUM):
        return True
    if axis == "scale" or m["axis"] == "components":
        return False
    return all(v == asdict(CURRICULUM)[k] for k, v in m["size"].items() if k != axis)


def log_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Readable ticks for a log axis over [lo, hi]: the finest of 1-1.5-2-3-5-7, 1-2-5, 1-3 or 1 per decade
    that gives at most `most` ticks (so that labels do not run into each other), at least two."""
    if not (lo > 0 and hi > 0):
        return []
    lo, hi = min(lo, hi), max(lo, hi)
    for mantissas in ((1, 1.5, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                 for m in mantissas]
        ticks = [t for t in ticks if lo <= t * (1 + 1e-9) and t <= hi * (1 + 1e-9)]
        if 2 <= len(ticks) <= most:
            return ticks
        if len(ticks) < 2:
            break
    return [float(f"{lo:.2g}"), float(f"{hi:.2g}")] if lo != hi else [lo]


def _tick_label(v: float, _pos=None) -> str:
    """128, 3, 1.5, 0.027: whole numbers whole, small ones to two significant digits."""
    if v >= 10 and v < 1e6:
        return f"{v:.0f}"
    return f"{v:.2g}" if v >= 1e-3 else f"{v:.0e}"


def _style_log_axis(axis, values: list[float] | None = None, lo: float | None = None, hi: float | None = None):
    """Major ticks at the given values (the sweep's) or at readable 1-2-5 steps, plain numbers, no minor
    labels: a log axis over less than a decade otherwise labels its minor ticks and they overlap."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    ticks = sorted(set(values)) if values else log_ticks(lo, hi)
    if values and len(ticks) > 8:  # too many sweep values for the width: every other one
        ticks = ticks[::2]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(_tick_label))
    axis.set_minor_formatter(NullFormatter())


def plot(result: dict, path: str) -> None:
    """Time per NanoGPT call against each sweep axis, one line per implementation, log-log; a hollow marker is
    an unstable figure (? in the table)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    ms = [m for m in result["measurements"] if m["component"] == "NanoGPT" and not m["error"]]
    modes = [md for md in MODES if any(m["mode"] == md and m["axis"] != "components" for m in ms)]
    axes_present = [a for a in AXES + ("scale",) if any(m["axis"] == a for m in ms)]
    if not axes_present or not modes:
        axes_present, modes = ["scale"], ["train"]
    ncols = len(axes_present)
    width = max(4.2 * ncols, 6.4)
    fig, grid = plt.subplots(len(modes), ncols, figsize=(width, 3.4 * len(modes) + 1.2), squeeze=False,
                             layout="constrained")
    styles = {"torch": ("C0", "o"), "torch.compile": ("C1", "s"), "jax.jit": ("C2", "^"), "jax": ("C3", "v"),
              "nnx.jit": ("C4", "D"), "nnx": ("C5", "P")}
    any_unstable = False
    for r, mode in enumerate(modes):
        for c, axis in enumerate(axes_present):
            ax = grid[r][c]
            sizes = [Size(**m["size"]) for m in ms if m["mode"] == mode and _on_axis(m, axis)]
            sizes = sorted(set(sizes), key=lambda s: s.train_gflops())
            xs_all, ys_all = [], []
            for impl in IMPLS:
                pts = []
                for s in sizes:
                    hit = next((m for m in ms
                                if m["impl"] == impl and m["mode"] == mode and m["size"] == asdict(s)), None)
                    if hit:
                        x = s.train_gflops() if axis == "scale" else getattr(s, axis)
                        pts.append((x, _num(hit["median_s"]) * 1e3, _num(hit["p25_s"]) * 1e3,
                                    _num(hit["p75_s"]) * 1e3, bool(hit.get("unstable"))))
                if not pts:
                    continue
                xs, ys, lo, hi, bad = zip(*pts)
                color, marker = styles[impl]
                ax.errorbar(xs, ys, yerr=[np.subtract(ys, lo), np.subtract(hi, ys)], color=color, marker="none",
                            label=impl, capsize=2)
                for x, y, b in zip(xs, ys, bad):
                    ax.plot([x], [y], marker=marker, color=color, markersize=6,
                            markerfacecolor="white" if b else color, markeredgewidth=1.3)
                    any_unstable |= b
                xs_all += list(xs)
                ys_all += list(lo) + list(hi)
            ax.set_xscale("log")
            ax.set_yscale("log")
            if xs_all:  # ticks at the sweep's own values
                _style_log_axis(ax.xaxis, values=xs_all)
                ax.set_xlim(min(xs_all) / 1.4, max(xs_all) * 1.4)
                ylo, yhi = min(ys_all) / 1.3, max(ys_all) * 1.3
                ax.set_ylim(ylo, yhi)
                _style_log_axis(ax.yaxis, lo=ylo, hi=yhi)
            ax.set_xlabel("GFLOP per training step (all axes grow)" if axis == "scale" else axis)
            ax.set_ylabel(f"ms per {'training step' if mode == 'train' else 'forward'}")
            ax.grid(True, which="major", alpha=0.3)
            ax.set_title(f"NanoGPT {mode}: {axis}", fontsize=10)
    present = [k for k in IMPLS if any(m["impl"] == k for m in ms)]
    handles = [Line2D([], [], color=styles[k][0], marker=styles[k][1], label=k) for k in present]
    if any_unstable:
        handles.append(Line2D([], [], color="grey", marker="o", markerfacecolor="white", linestyle="none",
                              label="hollow: unstable (?)"))
    if handles:  # none when the run measured no NanoGPT call (--components without it)
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    machine = result["machine"]
    start = machine.get("load_average_at_start")
    title = (f"learngpt bench, {machine['device']}: {machine.get('gpu_name') or machine['cpu_model']}, "
             f"{cores(machine)}, threads torch {machine['torch_threads']} / XLA "
             f"{xla_threads(machine)}" + (f", load average {start[0]:.1f} at start" if start else "")
             + f"; other axes at {CURRICULUM.label}; median and interquartile range")
    fig.suptitle("\n".join(textwrap.wrap(title, width=int(width * 13))), fontsize=10)
    from learngpt_lab.files import atomic_write
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def clean(v):
    """NaN and infinity are not JSON: written as null."""
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    return v


def write_json(result: dict, path: str) -> None:
    from learngpt_lab import files
    files.write_text(Path(path), json.dumps(clean(result), indent=1) + "\n")

"""What `learngpt bench` shows: the terminal table, the plot and the JSON file."""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from learngpt_lab.bench.plan import AXES, CURRICULUM, IMPLS, MODES, COMPONENTS, Size

def _fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _cell(m: dict | None, show_speedup: bool = True) -> str:
    if m is None:
        return "-"
    if m["error"]:
        return "error"
    spread = (m["p75_s"] - m["p25_s"]) / 2 / m["median_s"] * 100 if m["median_s"] > 0 else float("nan")
    cell = f"{_fmt_ms(m['median_s'])} ±{spread:.0f}%"
    if show_speedup and m["impl"] != "torch":
        cell += f" ({m['speedup_vs_torch']:.2g}x)"
    return cell


def format_table(result: dict) -> str:
    """The terminal table: ms per call (median, ± half the interquartile range), speed-up vs torch eager."""
    ms = result["measurements"]
    impls = [i for i in IMPLS if any(m["impl"] == i for m in ms)]
    machine = result["machine"]
    load = machine.get("load_average_at_start")
    lines = [f"learngpt bench on {machine['device']}: {machine['cpu_model']}, {machine['cpus_usable']} cores"
             + (f", GPU {machine.get('gpu_name')}, TF32 off in both" if machine["device"] == "gpu" else "")
             + f"; torch {machine['versions']['torch']} ({machine['torch_threads']} threads), "
             + f"jax {machine['versions']['jax']}" + (f"; load average at start {load[0]:.1f}" if load else ""),
             "ms per call: median ±half the interquartile range over repeats after warm-up; "
             "(Nx) = speed-up against torch eager in this run, above 1 is faster; first = first call (compiles)"]

    def table(rows: list[tuple[str, str, list]], title: str) -> None:
        header = [title, "mode"] + impls + ["first jit", "first compile"]
        body = []
        for label, mode, group in rows:
            by = {m["impl"]: m for m in group}
            firsts = [f"{by[i]['first_call_s']:.2f}s" if i in by and not by[i]["error"] else "-"
                      for i in ("jax.jit", "torch.compile")]
            body.append([label, mode] + [_cell(by.get(i)) for i in impls] + firsts)
        widths = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]
        lines.append("")
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines.append("  ".join("-" * w for w in widths))
        for r in body:
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))

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
        lines.append(f"training loop at {Size(**result['loops'][0]['size']).label} (NanoGPT, AdamW, dropout on), "
                     "steps/s; compile and evaluation excluded:")
        for lp in result["loops"]:
            if lp["error"]:
                lines.append(f"  {lp['loop']:<14} error: {lp['error']}")
            else:
                lines.append(f"  {lp['loop']:<14} {lp['steps_per_second']:8.1f} steps/s  "
                             f"({lp['speedup_vs_torch']:.2f}x torch loop; {lp['steps']} steps, "
                             f"compile {lp['compile_seconds']:.1f}s)")
    errors = [m for m in ms if m["error"]]
    for m in errors:
        lines.append(f"error: {m['component']} {m['mode']} {m['impl']} {Size(**m['size']).label}: {m['error']}")
    return "\n".join(lines)


def _on_axis(m: dict, axis: str) -> bool:
    """Whether measurement m lies on a sweep axis: the curriculum's size starts every axis."""
    if m["axis"] == axis or m["size"] == asdict(CURRICULUM):
        return True
    if axis == "scale" or m["axis"] == "components":
        return False
    return all(v == asdict(CURRICULUM)[k] for k, v in m["size"].items() if k != axis)


def plot(result: dict, path: str) -> None:
    """Time per NanoGPT training step against each sweep axis, one line per implementation, log-log."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ms = [m for m in result["measurements"] if m["component"] == "NanoGPT" and not m["error"]]
    modes = [md for md in MODES if any(m["mode"] == md and m["axis"] != "components" for m in ms)]
    axes_present = [a for a in AXES + ("scale",) if any(m["axis"] == a for m in ms)]
    if not axes_present or not modes:
        axes_present, modes = ["scale"], ["train"]
    fig, grid = plt.subplots(len(modes), len(axes_present), figsize=(4 * len(axes_present), 3.6 * len(modes)),
                             squeeze=False)
    styles = {"torch": ("C0", "o"), "torch.compile": ("C1", "s"), "jax.jit": ("C2", "^"), "jax": ("C3", "v")}
    for r, mode in enumerate(modes):
        for c, axis in enumerate(axes_present):
            ax = grid[r][c]
            sizes = [Size(**m["size"]) for m in ms if m["mode"] == mode and _on_axis(m, axis)]
            sizes = sorted(set(sizes), key=lambda s: s.train_gflops())
            for impl in IMPLS:
                pts = []
                for s in sizes:
                    hit = next((m for m in ms
                                if m["impl"] == impl and m["mode"] == mode and m["size"] == asdict(s)), None)
                    if hit:
                        x = s.train_gflops() if axis == "scale" else getattr(s, axis)
                        pts.append((x, hit["median_s"] * 1e3, hit["p25_s"] * 1e3, hit["p75_s"] * 1e3))
                if pts:
                    xs, ys, lo, hi = zip(*pts)
                    color, marker = styles[impl]
                    ax.errorbar(xs, ys, yerr=[np.subtract(ys, lo), np.subtract(hi, ys)], color=color,
                                marker=marker, label=impl, capsize=2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("GFLOP per train step (all axes grow)" if axis == "scale" else axis)
            ax.set_ylabel(f"ms per {'training step' if mode == 'train' else 'forward'}")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"NanoGPT {mode}: {axis}", fontsize=10)
    handles = {}
    for ax in grid.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    grid[0][0].legend([handles[k] for k in IMPLS if k in handles], [k for k in IMPLS if k in handles], fontsize=8)
    machine = result["machine"]
    fig.suptitle(f"learngpt bench, {machine['device']}: {machine.get('gpu_name') or machine['cpu_model']}, "
                 f"{machine['cpus_usable']} cores (others from {CURRICULUM.label})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_json(result: dict, path: str) -> None:
    def clean(v):  # NaN is not JSON: write null
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    with open(path, "w") as f:
        json.dump(clean(result), f, indent=1)
        f.write("\n")

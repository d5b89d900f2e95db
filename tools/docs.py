"""The one generator of every generated block in README.md and docs/: numbers from the results files, never typed.

`learngpt questions --json FILE`, `learngpt bench --out`, `learngpt compare --out` and the scripts in tools/ and experiments/
write what a run measured into docs/results/. Documents carry generated blocks between markers,

    <!-- generated: NAME -->
    ...
    <!-- end generated -->

and `python tools/docs.py` rewrites every block from the results files (`--check` exits 1 if a document
disagrees with them: tests/unit/test_docs.py runs it).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from learngpt_lab.bench.plan import CURRICULUM, FULL, IMPLS, QUICK, Size
from learngpt_lab.bench.report import NNX_IMPLS, _fmt_ms, _fmt_ratio, _num, cores, format_table, xla_threads

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
PARITY_RECORD = ROOT / "learngpt_lab" / "data" / "parity.json"  # package data: `learngpt lesson` shows its rows
DOCUMENTS = ("README.md", "docs/answers.md", "docs/week1.md", "docs/compare.md", "docs/bench.md", "docs/port.md",
             "docs/parity.md", "docs/parallel.md", "docs/reference.md")
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w:.-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def load(name: str) -> dict:
    """A results file by name, relative to docs/results/ (with its .json)."""
    path = RESULTS / name
    if not path.is_file():
        raise FileNotFoundError(f"results file {path} is missing; rerun what writes it (see its block's name)")
    return json.loads(path.read_text(encoding="utf-8"))


def questions_run(profile: str) -> dict:
    """{question: {backend: result dict}} of one profile's committed run."""
    run = load(f"questions-{profile}.json")
    out: dict = {}
    for r in run["results"]:
        out.setdefault(r["question"], {})[r["backend"]] = r
    return out


def _cell(r: dict | None) -> str:
    if r is None:
        return "not run"
    return f"{'✔' if r['holds'] else '✘'} {r['claim']}"


def answers_table(profile: str, files: tuple[str, ...]) -> str:
    """One row per question of the given test files: the claim as measured on each backend."""
    from learngpt_lab.questions import load as registry
    run = questions_run(profile)
    lines = ["| question (test) | torch | flax |", "| --- | --- | --- |"]
    for q in registry().values():
        if q.file in files and q.id in run:
            lines.append(f"| {q.file}: {q.asks} (`{q.id}`) | {_cell(run[q.id].get('torch'))} | "
                         f"{_cell(run[q.id].get('flax'))} |")
    return "\n".join(lines)


def per_seed(profile: str, question: str) -> str:
    """Every number of one question in one profile, per backend and per seed."""
    run = questions_run(profile)
    lines = []
    for backend in ("torch", "flax"):
        r = run.get(question, {}).get(backend)
        if r is None:
            continue
        lines.append(f"- {backend}, {profile} profile: {'holds' if r['holds'] else '**does not hold**'}: "
                     f"{r['claim']}")
        for label, values in r["numbers"].items():
            if len(values) > 1:
                seeds = ", ".join(f"{v:.4f}" for v in values)
                lines.append(f"  - {label}: mean {np.mean(values):.4f} (seeds {r['seeds']}: {seeds})")
            else:
                lines.append(f"  - {label}: {values[0]:.6g}")
    return "\n".join(lines)


def question_block(question: str) -> str:
    """A question in full: what it asks, what each profile's committed run measured, and the answer."""
    from learngpt_lab.questions import load as registry
    q = registry()[question]
    lines = [f"**Q. {q.asks}** (`{q.file}::{q.id}`)", ""]
    doc = (q.run.__doc__ or "").strip()
    if doc:
        lines += [" ".join(doc.split()), ""]
    for profile in ("default", "full", "seed"):
        if (RESULTS / f"questions-{profile}.json").is_file() and question in questions_run(profile):
            run = questions_run(profile)[question]
            setup = next((r["setup"] for r in run.values() if r.get("setup")), "")
            lines.append(f"*{profile} profile*" + (f" ({setup})" if setup else "") + ":")
            lines.append("")
            lines.append(per_seed(profile, question))
            lines.append("")
    lines.append("**A.** " + " ".join(q.answer.split()))
    return "\n".join(lines)


def profiles() -> str:
    """The profiles' values, from learngpt_lab.questions.PROFILES."""
    import dataclasses

    from learngpt_lab.questions import PROFILES
    names = list(PROFILES)
    lines = ["| | " + " | ".join(names) + " |", "| --- | " + " | ".join("---" for _ in names) + " |"]
    for f in dataclasses.fields(next(iter(PROFILES.values()))):
        if f.name != "name":
            lines.append(f"| {f.name} | " + " | ".join(f"{getattr(PROFILES[n], f.name)}" for n in names) + " |")
    return "\n".join(lines)


def layer_norm_depth() -> str:
    """Mean validation loss per depth and arm, per backend, from the LayerNorm depth sweep."""
    sweep = load("layer_norm_depth.json")
    records = sweep["records"]
    arms = list(dict.fromkeys(r["arm"] for r in records))
    depths = sorted({r["depth"] for r in records})
    lines = [f"{records[0]['steps']} steps, {sweep['eval_iters']} evaluation batches, seeds "
             f"{sorted({r['seed'] for r in records})}; mean validation loss (seeds beating residuals-only):", "",
             "| backend | depth | " + " | ".join(arms) + " |", "| --- | --- | " + " | ".join("---" for _ in arms) + " |"]
    for backend in ("torch", "flax"):
        for d in depths:
            at = {a: [r for r in records if r["backend"] == backend and r["depth"] == d and r["arm"] == a]
                  for a in arms}
            if not any(at.values()):
                continue
            base = {r["seed"]: r["val_loss"] for r in at[arms[0]]}
            cells = []
            for a in arms:
                vals = [r["val_loss"] for r in at[a]]
                wins = sum(r["val_loss"] < base[r["seed"]] for r in at[a]) if a != arms[0] else None
                cells.append(f"{np.mean(vals):.4f}" + ("" if wins is None else f" ({wins}/{len(vals)})"))
            lines.append(f"| {backend} | {d} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def multi_head_seeds() -> str:
    """MultiHeadVer1 vs HeadVer4 per step count: the mean gap and on how many seeds multi-head wins."""
    sweep = load("multi_head_seeds.json")
    records = sweep["records"]
    lines = ["| backend | steps | MultiHeadVer1 | HeadVer4 | seeds where multi-head is lower |", "| --- | --- | --- | --- | --- |"]
    for backend in ("torch", "flax"):
        for steps in sorted({r["steps"] for r in records}):
            mh = {r["seed"]: r["val_loss"] for r in records
                  if r["backend"] == backend and r["steps"] == steps and r["arm"] == "MultiHeadVer1"}
            one = {r["seed"]: r["val_loss"] for r in records
                   if r["backend"] == backend and r["steps"] == steps and r["arm"] == "HeadVer4"}
            if not mh:
                continue
            wins = [s for s in mh if mh[s] < one[s]]
            lines.append(f"| {backend} | {steps} | {np.mean(list(mh.values())):.4f} | "
                         f"{np.mean(list(one.values())):.4f} | {len(wins)} of {len(mh)} "
                         f"({', '.join(f'{s}: {mh[s] - one[s]:+.4f}' for s in sorted(mh))}) |")
    return "\n".join(lines)


def multi_head_speed() -> str:
    """v1/v2 time ratios per size, op by op and jitted, from the speed sweep."""
    sweep = load("multi_head_speed.json")
    lines = ["| backend | B, T, C, heads | op by op v1/v2 | jitted v1/v2 |", "| --- | --- | --- | --- |"]
    rows: dict = {}
    for r in sweep["records"]:
        rows.setdefault((r["backend"], r["B"], r["T"], r["C"], r["n_heads"]), {})[r["mode"]] = r
    for (backend, B, T, C, nh), modes in rows.items():
        cells = [f"{m['median']:.2f}x [{m['low']:.2f}, {m['high']:.2f}]" if m else "-"
                 for m in (modes.get("op by op"), modes.get("jit"))]
        lines.append(f"| {backend} | {B}, {T}, {C}, {nh} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def speed_conditions(name: str = "") -> str:
    """test_7's v1/v2 figure under each condition of experiments/speed_conditions.py, every repeat
    (speed-conditions: docs/results/speed-conditions.json; speed-conditions:xeon: speed-conditions-xeon.json)."""
    run = load(f"speed-conditions{'-' + name if name else ''}.json")
    lines = ["| condition | v1/v2 per repeat | v1 ms per call | v2 ms per call | v2 page faults per call |",
             "| --- | --- | --- | --- | --- |"]
    for name, c in run["conditions"].items():
        reps = c["repeats"]
        col = lambda key, fmt: ", ".join(format(r[key], fmt) for r in reps)  # noqa: E731
        lines.append(f"| {name} | {col('ratio', '.2f')} | {col('v1_ms_per_call', '.2f')} | "
                     f"{col('v2_ms_per_call', '.2f')} | {col('v2_faults_per_call', '.0f')} |")
    if run.get("cpu_model"):
        lines += ["", f"Measured {run['created'][:10]} on {run['cpu_model']}."]
    return "\n".join(lines)


def ci_run() -> str:
    """The last measured .ci/run (tools/ci_time.py): wall time and each pass's counts and time."""
    run = load("ci-run.json")

    def counts(p: dict) -> str:
        return ", ".join(f"{n} {what}" for what, n in p["counts"].items())
    par, ser = run["parallel_pass"], run["timing_pass"]
    return (f"`.ci/run` measured {run['created']} UTC ({run['note']}), commit {run['commit'][:7]}, exit status "
            f"{run['rc']}: {run['seconds'] / 60:.1f} minutes in all: install and start-up "
            f"{run['install_seconds']:.0f} s; both cores (pytest-xdist) {par['seconds']:.0f} s ({counts(par)}); "
            f"the timing tests alone {ser['seconds']:.0f} s ({counts(ser)}).")


def ci_profile(_: str = "") -> str:
    """Where the suite's CPU goes (tools/ci_profile.py, docs/results/ci-profile.json): the test files down to 1 %
    of the whole, the largest first, the rest summed; then the largest tests."""
    r = load("ci-profile.json")
    t = r["total"]
    whole = t["cpu"] + t["children"]

    def row(name: str, f: dict) -> str:
        spent = f["cpu"] + f["children"]
        return (f"| {name} | {f['tests']} | {f['cpu']:.0f} + {f['children']:.0f} | {spent / whole:.0%} | "
                f"{f['compile']:.0f} | {f['wall']:.0f} |")
    shown = [f for f in r["files"] if f["cpu"] + f["children"] >= 0.01 * whole]
    rest = [f for f in r["files"] if f not in shown]
    lines = ["| test file | tests | CPU s: its process + the children it waited for | share | XLA compile s, in "
             "its process | wall s |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [row(f["file"], f) for f in shown]
    if rest:
        lines.append(row(f"{len(rest)} other files", {k: sum(f[k] for f in rest) for k in t}))
    lines.append(row("all", t))
    lines += ["", "| the largest tests | CPU s: process + children | XLA compile s | wall s |", "| --- | --- | --- | --- |"]
    lines += [f"| `{x['id']}` | {x['cpu']:.0f} + {x['children']:.0f} | {x['compile']:.0f} | {x['wall']:.0f} |"
              for x in r["top_tests"]]
    lines += ["", f"Measured {r['created']} UTC ({r['note']}), commit {r['commit'][:7]}: {r['workers']} pytest-xdist "
              f"workers on {r['cpu_count']} cores, {t['wall']:.0f} worker-seconds of wall in the tests, "
              f"{whole:.0f} CPU-seconds."]
    return "\n".join(lines)


def trajectory(kind: str) -> str:
    """tools/trajectory.py's torch-against-Flax trajectories (docs/results/trajectory.json): `summary` (one
    paragraph) or `table` (float64 and float32 side by side, with how far roundoff alone carries torch)."""
    t = load("trajectory.json")
    runs = {d: [r for r in t["runs"] if r["dtype"] == d] for d in ("float64", "float32")}

    def worst(dtype: str, key: str) -> str:
        return f"{max(r[key] for r in runs[dtype]):.1e}"

    def per_seed(dtype: str, key: str) -> str:
        return ", ".join(f"{r[key]:.1e}" for r in runs[dtype])
    seeds = ", ".join(str(r["seed"]) for r in runs["float32"])
    held = sum(r["param_max"] <= 1e-4 for r in runs["float32"])
    c = t["conditions"]
    where = (f"torch {c['versions']['torch']} on {c['torch_threads']} thread, XLA {c['xla']}, jax "
             f"{c['versions']['jax']}, {c['cpu_model']}; `python tools/trajectory.py` reproduces them")
    if kind == "summary":
        return (f"float64 losses agree to {worst('float64', 'step_loss_max')} at every step and parameters to "
                f"{worst('float64', 'param_max')} after {t['steps']} steps (bound 1e-9); float32 losses to "
                f"≤ {worst('float32', 'step_loss_max')} over {len(runs['float32'])} seeds (bound 1e-4). float32 "
                f"parameters after {t['steps']} steps, torch against Flax: {per_seed('float32', 'param_max')} on "
                f"seeds {seeds} ({held} of {len(runs['float32'])} within 1e-4); torch float32 against torch "
                f"float64 from the same weights: {per_seed('float32', 'torch_vs_float64_param_max')}, and Flax "
                f"float32 against it: {per_seed('float32', 'flax_vs_float64_param_max')} ({where}).")
    if kind == "table":
        rows = [("max \\|Δ step loss\\| (bound 1e-9 / 1e-4)", "step_loss_max"),
                ("max \\|Δ evaluation loss\\| (steps 0, 100, 200)", "eval_loss_max"),
                (f"max \\|Δ parameter\\| after {t['steps']} steps (same bounds)", "param_max")]
        f32_only = [("torch float32 against itself, every initial weight one ulp up",
                     "torch_vs_torch_one_ulp_up_param_max"),
                    ("torch float32 against itself on two threads", "torch_vs_torch_two_threads_param_max"),
                    ("torch float32 against torch float64", "torch_vs_float64_param_max"),
                    ("Flax float32 against torch float64", "flax_vs_float64_param_max")]
        return "\n".join(
            ["| torch against Flax | float64 | float32 |", "| --- | --- | --- |"]
            + [f"| {label} | {per_seed('float64', key)} | {per_seed('float32', key)} |" for label, key in rows]
            + ["", "How far float32 roundoff alone carries the parameters in the same 200 steps:", "",
               "| max \\|Δ parameter\\| after 200 steps | float32 |", "| --- | --- |"]
            + [f"| {label} | {per_seed('float32', key)} |" for label, key in f32_only]
            + ["", f"float64: seed {runs['float64'][0]['seed']}; float32: seeds {seeds}, each asserted; {where}."])
    raise ValueError(f"unknown generated block trajectory:{kind}")


def port_models(kind: str) -> str:
    """docs/port.md's BERT and OPT tables (tools/port_models.py): `tables` the correct ports in float32 and
    float64, `planted` each planted bug with the layer the report names."""
    run = load("port-models.json")
    if kind == "tables":
        lines = ["| model | dtype | outputs (max abs diff) | gradients | layers matched | result |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for model, runs in run["models"].items():
            for dtype, s in runs.items():
                outs = ", ".join(f"{k} {v:.2e}" for k, v in s["outputs"].items())
                grad = (f"{s['gradient_max']:.2e} {'relative' if s['gradient_relative'] else 'abs'} over "
                        f"{s['gradients']} (bound {s['gradient_bound']:.0e})")
                if s["floored"]:
                    grad += (f"; {len(s['floored'])} within the floor {s['gradient_floor']:.2e} "
                             f"(max abs {s['floored_max_abs']:.2e}: " + ", ".join(
                                 f"`{t[5:-1]}`" for t in s["floored"]) + ")")
                lines.append(f"| {model} | {dtype} | {outs} (bound {s['output_bound']:.0e}) | {grad} | "
                             f"{s['layers_compared']} of {s['layers']} (largest {s['layer_max']:.2e} relative) | "
                             f"{'pass' if s['ok'] else 'FAIL'} |")
        v = run["versions"]
        lines += ["", f"Measured {run['created'][:16].replace('T', ' ')} UTC by `python tools/port_models.py`: "
                  f"transformers {v['transformers']}, torch {v['torch']}, jax {v['jax']}, flax {v['flax']}; "
                  f"B {run['shape'][0]}, T {run['shape'][1]}; {run['models']['BERT']['float32']['params']:,} "
                  f"(BERT) and {run['models']['OPT']['float32']['params']:,} (OPT) parameters on each side."]
        return "\n".join(lines)
    if kind == "planted":
        lines = ["| model | planted | outputs | first divergence named | where | likely cause (the report's) |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for p in run["planted"]:
            cause = "; ".join(p["causes"]) or "-"
            lines.append(f"| {p['model']} | {p['what']} | max {p['output_max']:.2e}: "
                         f"{'pass' if p['outputs_ok'] else 'fail'} | layer {p['index']}, `{p['named']}` ({p['kind']}) "
                         f"| {p['where']} | {cause} |")
        return "\n".join(lines)
    raise ValueError(f"unknown generated block 'port-models:{kind}'; expected port-models:tables or :planted")


def port_zoo(kind: str) -> str:
    """docs/port.md's models beyond transformers (tools/port_zoo.py): `cases` every correct port, `planted` each
    planted bug with the layer and cause the report named, `hour:N` the N-th command of the first hour and what
    it printed."""
    run = load("port-zoo.json")
    if kind == "cases":
        lines = ["| model | Flax | dtype | mode | outputs (max abs diff; trajectories: loss and parameters) | layers "
                 "compared | rule lines | glue | result |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in (r for r in run["cases"] if r["expected"] == "pass"):
            diff = "-" if r["output_diff"] is None else f"{r['output_diff']:.2e}"
            glue = "; ".join(f"`{g}`" for g in r["glue_lines"]) or "none"
            lines.append(f"| {r['case']} | {r['framework']} | {r['dtype']} | {r['mode']} | {diff} | "
                         f"{r['layers_compared'] or '-'} | {len(r['rule_lines'])} | {glue} | "
                         f"{'pass' if r['ok'] else 'FAIL'} |")
        v = run["versions"]
        lines += ["", f"Recorded {run['created'][:16].replace('T', ' ')} UTC by `python tools/port_zoo.py`: torch "
                      f"{v['torch']}, jax {v['jax']}, flax {v['flax']}, transformers {v['transformers']}."]
        return "\n".join(lines)
    if kind == "planted":
        lines = ["| model and planted bug | Flax | mode | outputs (max abs diff) | first divergence named | likely cause "
                 "(the report's) |", "| --- | --- | --- | --- | --- | --- |"]
        for r in (r for r in run["cases"] if r["expected"] == "fail"):
            diff = "-" if r["output_diff"] is None else f"{r['output_diff']:.2e}"
            named = r["first_divergence"] or ("the statistics (state rows)" if r["expected_layer"] == "state" else "-")
            lines.append(f"| {r['case']} | {r['framework']} | {r['mode']} | {diff} | `{named}` | "
                         f"{r['cause'] or '-'} |")
        return "\n".join(lines)
    if kind.startswith("hour:"):
        step = run["first_hour"][int(kind.split(":")[1])]
        return f"```\n$ {step['command']}\n{step['output']}\n(exit {step['exit']})\n```"
    raise ValueError(f"unknown generated block 'port-zoo:{kind}'; expected port-zoo:cases, :planted or :hour:N")


def attention_scale() -> str:
    """experiments/attention_scale.py: validation loss of NanoGPT with the curriculum's attention scale and with the
    paper's, per evaluation (mean over seeds) and per seed at the end."""
    a = load("attention-scale.json")
    arms, seeds = a["arms"], a["seeds"]
    by = {(r["arm"], r["seed"]): r for r in a["runs"]}
    steps = by[(arms[0], seeds[0])]["steps"]
    lines = ["| step | " + " | ".join(arms) + " |", "| --- |" + " --- |" * len(arms)]
    for i, step in enumerate(steps):
        means = [np.mean([by[(arm, s)]["val_loss"][i] for s in seeds]) for arm in arms]
        lines.append(f"| {step} | " + " | ".join(f"{m:.4f}" for m in means) + " |")
    final = {arm: [by[(arm, s)]["val_loss"][-1] for s in seeds] for arm in arms}
    lower = sum(p < c for c, p in zip(final[arms[0]], final[arms[1]]))
    lines += ["", f"Mean validation loss over seeds {', '.join(map(str, seeds))} ({a['eval_iters']} batches per "
              f"evaluation; embed_size {a['embed_size']}, {a['n_heads']} heads). At step {steps[-1]}, per seed: "
              + "; ".join(f"{arm}: " + ", ".join(f"{v:.4f}" for v in final[arm]) for arm in arms)
              + f". The paper's scale ends lower on {lower} of {len(seeds)} seeds, by "
              f"{np.mean(final[arms[0]]) - np.mean(final[arms[1]]):.4f} on the mean."]
    return "\n".join(lines)


def parity_table() -> str:
    """`learngpt parity`'s table as tools/parity_components.py recorded it (learngpt_lab/data/parity.json)."""
    run = json.loads(PARITY_RECORD.read_text(encoding="utf-8"))
    c = run["conditions"]
    return ("```text\n" + "\n".join(run["lines"] + [f"  {f}" for f in run["failed"]]) + "\n```\n\n"
            f"Measured {run['created'][:16].replace('T', ' ')} by `python tools/parity_components.py` (seed "
            f"{run['seed']}; torch {c['versions']['torch']} on {c['torch_threads']} thread, XLA {c['xla']}, jax "
            f"{c['versions']['jax']}, flax {c['versions']['flax']}, {c['cpu_model']}).")


def compare_table(folder: str) -> str:
    """The side-by-side table of a `learngpt compare` run whose history_<backend>.json files were kept."""
    from learngpt_lab.commands.compare import table
    found = sorted(p.name[len("history_"):-len(".json")] for p in (RESULTS / folder).glob("history_*.json"))
    names = [n for n in ("torch", "flax") if n in found] + [n for n in found if n not in ("torch", "flax")]
    if not names:
        raise FileNotFoundError(f"no history_<backend>.json in {RESULTS / folder}; copy them from a compare run")
    results = {n: load(f"{folder}/history_{n}.json") for n in names}
    text = "```text\n" + table(names, results) + "\n```"
    if names == ["torch", "flax"]:
        speed = {n: results[n]["history"]["steps_per_second"] for n in names}
        text += (f"\n\nFlax trains {speed['flax'] / speed['torch']:.2f}x as many steps per second as torch "
                 f"({speed['flax']:.1f} against {speed['torch']:.1f}, one CPU thread each); both processes "
                 f"together took {sum(results[n]['wall_seconds'] for n in names):.0f} s. One unpaired run: the "
                 f"backends train one after the other, so load that comes and goes moves this ratio (torch's "
                 f"rate varies most between runs); `learngpt bench` measures the loops paired (docs/bench.md).")
    return text




def port_gpt2(kind: str) -> str:
    """docs/port.md's GPT-2 tables (tools/port_gpt2.py, docs/results/port-gpt2.json): `table` the correct port
    in float32 and float64, `planted` the three differences planted in the Flax copy with the layer named."""
    run = load("port-gpt2.json")
    if kind == "table":
        f32, f64 = run["runs"]["float32"], run["runs"]["float64"]
        lines = [f"Measured (`python tools/port_gpt2.py`, the cases of `tests/parity/test_port_gpt2.py`; "
                 f"{f32['params']:,} parameters on each side, {f32['gradients']} gradients, "
                 f"{f32['layers_compared']} of {f32['layers']} submodule calls compared):", "",
                 "| | logits | loss | gradients | layers (relative) |", "| --- | --- | --- | --- | --- |"]
        for label, s in (("float32 (bound 1e-5; gradients 1e-4 relative)", f32), ("float64 (bound 1e-10)", f64)):
            grad = f"{s['gradient_max']:.2e}" + (" relative" if s["gradient_relative"] else "")
            lines.append(f"| {label} | {s['outputs']['logits']:.2e} | {s['outputs']['loss']:.2e} | {grad} | "
                         f"{s['layer_max']:.2e} |")
        v = run["versions"]
        lines += ["", f"Measured {run['created'][:16].replace('T', ' ')} with transformers {v['transformers']}, "
                      f"torch {v['torch']}, jax {v['jax']}, flax {v['flax']}, one thread each."]
        return "\n".join(lines)
    if kind.startswith("report:"):  # port-gpt2:report:KEY: the report of the planted difference KEY as printed
        return "```text\n" + run["planted"][kind.split(":", 1)[1]]["report"].rstrip("\n") + "\n```"
    if kind == "planted":
        lines = ["| planted in the Flax copy | outputs | first divergence | where |", "| --- | --- | --- | --- |"]
        for p in run["planted"].values():
            outs = ", ".join(f"{k} {v:.2e}" for k, v in p["outputs"].items())
            grad = f"gradients {p['gradient_max']:.2e}"
            if p["outputs_ok"] and p["gradients_ok"]:
                outs = f"{outs}, {grad}: **all pass**"
            else:
                outs = (f"{outs}: fail (the largest gradient difference, {p['gradient_max']:.3g}"
                        f"{' relative' if p['gradient_relative'] else ''}, is at `{p['gradient_key']}`)")
            f = p["first"]
            after = f["verdict"].split("the difference entered before it", 1)[-1].lstrip(", ")
            where = (f"inside it: its input agrees ({f['input_rel']:.2e})" if f["input_ok"] else
                     f"before it: its input differs ({f['input_rel']:.2e}), {after}")
            lines.append(f"| {p['what']} | {outs} | layer {f['index']}, `{f['name']}` ({f['kind']}) | {where} |")
        return "\n".join(lines)
    raise ValueError(f"unknown generated block 'port-gpt2:{kind}'; expected port-gpt2:table, :planted or :report:KEY")


# The size ladder (tools/ladder.py -> docs/results/ladder.json) and the laptop preset's compare runs

LADDER_LABELS = {"torch loop": "torch eager", "torch.compile loop": "torch.compile", "flax lesson scan": "Flax jax.jit",
                 "flax scan": "Flax fast"}
PAYS = 1.1  # jit pays at a rung while its speed-up's 95 % interval lies above this


def _size_label(dims) -> str:
    b, t, c, layers, heads = dims
    return f"B{b} T{t} C{c} L{layers} H{heads}"


def _ratio_cell(median, interval) -> str:
    lo, hi = interval if interval else (float("nan"), float("nan"))
    return f"{_num(median):.2f}× [{_num(lo):.2f}, {_num(hi):.2f}]"


def crossover(run: dict) -> list[str]:
    """For each jit mode at one thread count: the first rung (growing work) where its speed-up over torch eager
    is no longer surely above PAYS (its interval's low end at or below it), or that it pays at every rung."""
    rungs = list(run["rungs"].items())
    out = []
    for mode in ("torch.compile loop", "flax lesson scan", "flax scan"):
        stops = None
        for name, r in rungs:
            lp = r["loops"].get(mode)
            if lp and not lp["error"] and lp["interval"] and _num(lp["interval"][0]) <= PAYS:
                stops = (name, r, lp)
                break
        if stops is None:
            last_name, last = rungs[-1]
            lp = last["loops"].get(mode) or {}
            out.append(f"{LADDER_LABELS[mode]} pays at every rung ({_ratio_cell(lp.get('speedup'), lp.get('interval'))}"
                       f" over eager at {last_name})" if lp.get("speedup") is not None else
                       f"{LADDER_LABELS[mode]} pays at every rung")
        else:
            name, r, lp = stops
            out.append(f"{LADDER_LABELS[mode]} stops paying at {name} ({r['gflop_per_step']:.2g} GFLOP a step): "
                       f"{_ratio_cell(lp['speedup'], lp['interval'])} over eager")
    return out


def _with_speedups(result: dict) -> dict:
    """Each loop row gains `speedup`, the median of its paired ratios to torch eager."""
    for run in result["runs"]:
        for r in run["rungs"].values():
            for lp in r["loops"].values():
                lp["speedup"] = float(np.median(lp["ratios"])) if lp.get("ratios") else None
    return result


def ladder_table(result: dict) -> str:
    """Every mode x rung x thread count: steps/s, the paired speed-up over eager with its 95 % interval, GFLOP/s
    and its share of the measured matmul peak at the same threads; Flax fast over torch.compile, paired."""
    lines = []
    for run in result["runs"]:
        peak = run["matmul"]
        lines += [f"**{run['threads']} thread{'s' if run['threads'] > 1 else ''}**: measured matmul peak "
                  f"{peak['peak']:.0f} GFLOP/s (float32 {1024}², numpy {peak['numpy']:.0f}, XLA {peak['jax']:.0f}).",
                  "", "| rung (GFLOP a step) | mode | steps/s | vs torch eager [95 % interval] | GFLOP/s | % of peak "
                  "| compile (s) |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for name, r in run["rungs"].items():
            for mode, lp in r["loops"].items():
                if lp["error"]:
                    lines.append(f"| {name} | {LADDER_LABELS[mode]} | error: {lp['error']} | | | | |")
                    continue
                mark = "?" if lp["flags"] else ""
                ratio = "the base" if mode == "torch loop" else _ratio_cell(lp["speedup"], lp["interval"]) + mark
                lines.append(f"| {name}, {_size_label(r['size'])} ({r['gflop_per_step']:.2g}) | {LADDER_LABELS[mode]} | "
                             f"{_num(lp['steps_per_second']):.1f} | {ratio} | {_num(lp['gflops_per_second']):.1f} | "
                             f"{_num(lp['peak_share']):.0%} | {_num(lp['compile_seconds']):.1f} |")
            pair = r["paired"].get("flax scan / torch.compile loop")
            if pair:
                lines.append(f"| {name} | Flax fast / torch.compile | | {_ratio_cell(pair['median'], pair['interval'])}"
                             f" ({pair['rounds']} rounds) | | | |")
        lines += ["", "Where jit stops paying (its speed-up's interval reaching "
                  f"{PAYS}×): " + "; ".join(crossover(run)) + ".", ""]
    m = result["machine"]
    lines.append(f"Measured {result['created'][:16].replace('T', ' ')} ({result.get('label') or 'as run'}): "
                 f"`{result['command']}`, {m['cpu_model']}, {m['cpus_usable']} cores, torch "
                 f"{m['versions']['torch']}, jax {m['versions']['jax']}; {result['wall_seconds']:.0f} s. Rounds: at "
                 f"least {result['settings']['min_rounds']}, added until each interval spans at most "
                 f"{result['settings']['interval_limit']:.0%} of its median (at most "
                 f"{result['settings']['max_rounds']}); ? = still wider. GFLOP a step: three times the forward's "
                 "multiply-adds (learngpt_lab.bench.plan.Size.train_gflops).")
    return "\n".join(lines)


def ladder_summary(result: dict) -> str:
    """The README's lines: at one thread, Flax fast against torch eager and torch.compile at every rung."""
    run = next((r for r in result["runs"] if r["threads"] == 1), result["runs"][0])
    lines = [f"One thread, paired rounds (docs/bench.md, the ladder; {result['machine']['cpu_model']}):", ""]
    for name, r in run["rungs"].items():
        fast, pair = r["loops"]["flax scan"], r["paired"].get("flax scan / torch.compile loop")
        if fast["error"]:
            continue
        lines.append(f"- {name} ({_size_label(r['size'])}, {r['gflop_per_step']:.2g} GFLOP a step): Flax fast "
                     f"{_ratio_cell(fast['speedup'], fast['interval'])} torch eager"
                     + (f", {_ratio_cell(pair['median'], pair['interval'])} torch.compile" if pair else "")
                     + f"; {_num(fast['peak_share']):.0%} of the measured matmul peak")
    lines += ["", "; ".join(crossover(run)) + "."]
    return "\n".join(lines)


def ladder_block(arg: str) -> str:
    result = _with_speedups(load(f"{arg.split(':')[1] if ':' in arg else 'ladder'}.json"))
    kind = arg.split(":")[0]
    if kind == "table":
        return ladder_table(result)
    if kind == "summary":
        return ladder_summary(result)
    raise ValueError(f"unknown generated block 'ladder:{arg}'; expected ladder:table or ladder:summary")


def compare_runs(name: str) -> str:
    """tools/compare_runs.py's repeated compare runs: steps/s of each backend in each run, the ratio, its spread."""
    result = load(f"compare-runs-{name}.json")
    names = sorted(result["runs"][0]["backends"], key=lambda n: (n != "torch", n))  # torch, the base, first
    base = names[0]
    lines = ["| run | how the backends ran | " + " | ".join(f"{n} steps/s" for n in names) + " | "
             + " | ".join(f"{n} / {base}" for n in names[1:]) + " |", "| --- | --- |" + " --- |" * (2 * len(names) - 1)]
    ratios = {n: [] for n in names[1:]}
    for i, run in enumerate(result["runs"], 1):
        sps = {n: run["backends"][n]["steps_per_second"] for n in names}
        for n in names[1:]:
            ratios[n].append(sps[n] / sps[base])
        lines.append(f"| {i} | {'at the same time, one core each' if run['concurrent'] else 'one after the other'} | "
                     + " | ".join(f"{sps[n]:.1f}" for n in names) + " | "
                     + " | ".join(f"{ratios[n][-1]:.2f}×" for n in names[1:]) + " |")
    lines.append("")
    for n, rs in ratios.items():
        spread = (max(rs) - min(rs)) / float(np.median(rs))
        lines.append(f"{n} / {base} over {len(rs)} runs: median {float(np.median(rs)):.2f}×, from {min(rs):.2f}× to "
                     f"{max(rs):.2f}×, a spread of {spread:.0%} of the median.")
    lines.append(f"Measured {result['created'][:16].replace('T', ' ')} ({result.get('label') or 'as run'}): "
                 f"`{result['command']}`, {result['cpu_model']}, {result['cores']} cores.")
    return "\n".join(lines)


def laptop(name: str) -> str:
    """nanoGPT's laptop recipe trained by each backend (a compare run kept in docs/results/compare-NAME/): the
    validation loss at the last step against nanoGPT's 1.88, and the training time to reach 1.88."""
    from learngpt.config import NANOGPT_LAPTOP_LOSS, NANOGPT_LAPTOP_MINUTES
    folder = RESULTS / f"compare-{name}"
    found = sorted((p.name[len("history_"):-len(".json")] for p in folder.glob("history_*.json")),
                   key=lambda n: (n != "torch", n))
    if not found:
        raise FileNotFoundError(f"no history_<backend>.json in {folder}; run tools/compare_runs.py --name {name}")
    lines = [f"| backend | val loss at step {{steps}} (nanoGPT: {NANOGPT_LAPTOP_LOSS}) | first evaluation at or below "
             f"{NANOGPT_LAPTOP_LOSS} | training time to it | steps/s | compile (s) |", "| --- | --- | --- | --- | --- | --- |"]
    steps = every = None
    for n in found:
        h = load(f"compare-{name}/history_{n}.json")["history"]
        steps, last = h["steps"], h["evals"][-1]
        every = h["evals"][1]["step"] - h["evals"][0]["step"] if len(h["evals"]) > 1 else steps
        reached = next((e for e in h["evals"] if e["val_loss"] <= NANOGPT_LAPTOP_LOSS), None)
        when = (f"step {reached['step']} ({reached['val_loss']:.3f})", f"{reached['step'] / h['steps_per_second']:.0f} s")\
            if reached else ("not reached", "-")
        lines.append(f"| {n} | {last['val_loss']:.4f} | {when[0]} | {when[1]} | {h['steps_per_second']:.1f} | "
                     f"{h['compile_seconds']:.1f} |")
    lines[0] = lines[0].replace("{steps}", str(steps))
    lines += ["", f"nanoGPT's README reports {NANOGPT_LAPTOP_LOSS} after about {NANOGPT_LAPTOP_MINUTES} minutes of "
              "this recipe (its own trainer: AdamW with warm-up and cosine decay, gradient clipping); here AdamW at a "
              f"constant rate (learngpt.config), evaluated every {every} steps on the preset's fixed batches. Training "
              "time = steps to the evaluation / steps per second: evaluation and compilation excluded."]
    return "\n".join(lines)


def flax_attempts(name: str) -> str:
    """experiments/flax_fast_attempts.py: each variant of the Flax fast step at one rung, paired against the first
    one, its GFLOP/s and its share of the matmul peak measured in the same process."""
    r = load(f"{name}.json")
    lines = [f"| variant of the Flax fast step | speed vs the first row (median of {r['rounds']} paired rounds, 95 % "
             "interval) | steps/s | GFLOP/s | % of the matmul peak |", "| --- | --- | --- | --- | --- |"]
    for row in r["rows"]:
        lines.append(f"| {row['variant']} | {_ratio_cell(row['speedup_vs_adopted'], row['interval'])}"
                     f"{'?' if row['flags'] else ''} | {row['steps_per_second']:.1f} | "
                     f"{row['gflops_per_second']:.1f} | {row['peak_share']:.0%} |")
    lines += ["", f"Measured {r['created'][:16].replace('T', ' ')} at the {r['rung']} rung ({_size_label(r['size'])}, "
              f"{r['gflop_per_step']:.2g} GFLOP a step), {r['threads']} thread(s), segments of {r['segment_steps']} "
              f"steps, load average {_num(r['load_average']):.1f} on {r['cores']} cores; matmul peak "
              f"{r['matmul']['peak']:.0f} GFLOP/s: `{r['command']}`."]
    return "\n".join(lines)


PEAK_TARGET = 0.7  # issue 25's target: the Flax step at 70 % of the measured single-core matmul peak


def flax_profile(name: str) -> str:
    """tools/profile_step.py: the Flax fast step's kernels by kind (XLA's trace, one pinned core), and what the
    matmuls leave of a step at PEAK_TARGET of the peak for everything else, against the core's copy rates."""
    r = load(f"{name}.json")
    kinds = sorted(r["kinds"].items(), key=lambda kv: -kv[1]["ms_per_step"])
    total = r["step_ms_traced"]
    lines = ["| kernels | ms a step | share of the step | kernels a step | GFLOP a step | MB read and written a step |",
             "| --- | --- | --- | --- | --- | --- |"]
    for kind, k in kinds:
        lines.append(f"| {kind} | {k['ms_per_step']:.1f} | {k['ms_per_step'] / total:.0%} | {k['kernels_per_step']} "
                     f"| {k['gflop_per_step']:.2f} | {k['mb_per_step']:.0f} |")
    peak, untraced = r["matmul"]["peak"], r["step_ms_untraced"]
    rate = r["gflop_per_step"] / untraced * 1e3
    text = (f"Traced {r['created'][:16].replace('T', ' ')} at the {r['rung']} rung ({_size_label(r['size'])}, "
            f"{r['gflop_per_step']:.2g} GFLOP a step), {r['threads']} thread(s), pinned: `{r['command']}`. The step: "
            f"{total:.1f} ms traced, {untraced:.1f} ms untraced ({rate:.0f} GFLOP/s, {rate / peak:.0%} of the "
            f"{peak:.0f} GFLOP/s matmul peak measured in the same process).")
    mm = r["kinds"].get("matmul")
    if mm and mm["ms_per_step"] > 0:
        rest = {key: sum(k[key] for kind, k in kinds if kind != "matmul") for key in ("ms_per_step", "mb_per_step")}
        mm_rate = mm["gflop_per_step"] / mm["ms_per_step"] * 1e3
        left = r["gflop_per_step"] / (PEAK_TARGET * peak) * 1e3 - mm["ms_per_step"]
        copies = sorted(r["copy_gb_per_s"].items(), key=lambda kv: -kv[1])
        fastest, slowest = copies[0], copies[-1]
        t_fast, t_slow = rest["mb_per_step"] / fastest[1], rest["mb_per_step"] / slowest[1]
        verdict = ("less than that even at the slowest" if t_slow < left else
                   "more than that even at the fastest" if t_fast > left else
                   "more than that at every rate but the fastest")
        text += (f" Its matmuls run at {mm_rate:.0f} GFLOP/s ({mm_rate / peak:.0%} of the peak). At "
                 f"{PEAK_TARGET:.0%} of the peak a step has {left + mm['ms_per_step']:.1f} ms; the matmuls take "
                 f"{mm['ms_per_step']:.1f} ms of it, which leaves {left:.1f} ms for every other kernel: today they "
                 f"take {rest['ms_per_step']:.1f} ms and read and write {rest['mb_per_step']:.0f} MB. At this core's "
                 f"copy rates (numpy's copy of float32 arrays: {fastest[1]:.0f} GB/s for {fastest[0]}, down to "
                 f"{slowest[1]:.0f} GB/s for {slowest[0]}) moving those bytes alone takes {t_fast:.1f} to "
                 f"{t_slow:.1f} ms, {verdict}.")
    return "\n".join(lines + ["", text])


# docs/parallel.md: what tests/parallel measured (tools/parallel_roundoff.py -> docs/results/parallel.json)

PARALLEL_RUNS = (  # (kind, layout, sharded, dropout) -> the row's name in docs/parallel.md
    (("single-device", "torch-nproc", False, 0.0), "torch DDP vs torch, one device"),
    (("single-device", "flax-devices", False, 0.0), "JAX, one process with N devices, vs Flax, one device"),
    (("single-device", "flax-nproc", False, 0.0), "JAX, N processes, vs Flax, one device"),
    (("single-device", "nnx-devices", False, 0.0), "Flax NNX over one process's N devices vs NNX, one device"),
    (("single-device", "torch-nproc", True, 0.0), "torch FSDP2 (sharded params) vs torch, one device"),
    (("single-device", "flax-devices", True, 0.0), "JAX sharded params (N devices) vs Flax, one device"),
    (("single-device", "nnx-devices", True, 0.0), "NNX sharded params (N devices) vs NNX, one device"),
    (("torch-vs-jax", "flax-devices", None, None), "torch DDP vs JAX, N devices"),
    (("torch-vs-jax", "flax-nproc", None, None), "torch DDP vs JAX, N processes"),
    (("single-device", "flax-devices", False, 0.05), "JAX, N devices, **dropout 0.05**, vs Flax, one device, dropout 0.05"),
    (("single-device", "nnx-devices", False, 0.05), "NNX, N devices, **dropout 0.05**, vs NNX, one device, dropout 0.05"),
)
PARALLEL_HELD = {"torch-nproc": "torch FSDP2 (fully_shard)", "flax-devices": "JAX (NamedSharding, linen)",
                 "nnx-devices": "Flax NNX (NamedSharding)"}


def _diff(x: float | None) -> str:
    return "" if x is None else "0" if x == 0 else f"{x:.1e}"


def parallel(what: str) -> str:
    """parallel:table (max |diff| of each parallel run against one device, and torch against JAX),
    parallel:held (what one device held in the sharded runs), parallel:killed (a killed rank's stop)."""
    r = load("parallel.json")
    rows = r["rows"]
    when = (f"Measured {r['created'][:16].replace('T', ' ')} by `{r['command']}` (`{r['tests']}`, "
            f"{r['seconds']:.0f} s on {r['machine'].get('cpu_model', 'this machine')}).")
    if what == "table":
        lines = ["| run | N | float64 step loss | float64 evaluation | float64 params | float32 step loss | "
                 "float32 evaluation |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for (kind, layout, sharded, rate), label in PARALLEL_RUNS:
            for n in sorted({row["n"] for row in rows if "n" in row}):
                got = {row["dtype"]: row for row in rows if row["kind"] == kind and row["layout"] == layout
                       and row["n"] == n and (sharded is None or (row["sharded"], row["dropout"]) == (sharded, rate))}
                if not got:
                    continue
                f64, f32 = got.get("float64", {}), got.get("float32", {})
                lines.append(f"| {label} | {n} | {_diff(f64.get('step_loss'))} | {_diff(f64.get('evaluation'))} | "
                             f"{_diff(f64.get('params'))} | {_diff(f32.get('step_loss'))} | "
                             f"{_diff(f32.get('evaluation'))} |")
        return "\n".join(lines + ["", when])
    if what == "held":
        held = [row for row in rows if row["kind"] == "held"]
        lines = ["| sharded run | N | parameters on one device | AdamW moments on one device |",
                 "| --- | --- | --- | --- |"]
        for row in sorted(held, key=lambda row: (list(PARALLEL_HELD).index(row["layout"]), row["n"])):
            lines.append(f"| {PARALLEL_HELD[row['layout']]} | {row['n']} | {row['params']:,} of {row['total']:,} | "
                         f"{row['adamw']:,} of {2 * row['total']:,} |")
        return "\n".join(lines + ["", when])
    if what == "killed":
        killed = sorted((row for row in rows if row["kind"] == "killed"), key=lambda row: row["backend"])
        return ("Measured from `kill -9` of rank 1 to the end of the command (one run each, "
                "`test_a_killed_rank_stops_the_run_naming_it`): "
                + ", ".join(f"{row['backend']} over 2 processes {row['seconds']:.2f} s" for row in killed) + "; the test's bound "
                "is 5 s.")
    raise ValueError(f"parallel:{what}: no such block (table, held, killed)")


# docs/bench.md: the bench's results (docs/results/bench-*.json, flax-loop-attempts.json)

def load_bench(name: str) -> dict:
    return load(f"{name}.json")


def loops_table(result: dict) -> str:
    """The loops' steps/s and paired ratios; in a run without any NNX loop, the NNX loops of its plan (quick or
    full) are rows that say "not measured"."""
    lines = ["| loop | steps/s (median of segments) | vs the torch loop (median of paired ratios, IQR) |",
             "| --- | --- | --- |"]
    for lp in result["loops"]:
        if lp["error"]:
            lines.append(f"| {lp['loop']} | error | |")
            continue
        mark = " (unstable: " + "; ".join(lp["reasons"]) + ")" if lp.get("unstable") else ""
        lines.append(f"| {lp['loop']} | {_num(lp['steps_per_second']):.1f} | {_num(lp['speedup_vs_torch']):.2f}× "
                     f"[{_num(lp['speedup_p25']):.2f}, {_num(lp['speedup_p75']):.2f}]{mark} |")
    if result["loops"] and not any(lp["loop"].startswith("nnx") for lp in result["loops"]):
        planned = (QUICK if result["settings"].get("quick") else FULL).loops
        lines += [f"| {loop} | not measured | not measured |" for loop in planned if loop.startswith("nnx")]
    return "\n".join(lines)


def headline(result: dict) -> str:
    """The NanoGPT training step at the curriculum's size and at the largest measured: ms and paired ratio."""
    train = [m for m in result["measurements"] if m["component"] == "NanoGPT" and m["mode"] == "train"
             and not m["error"]]
    if not train:
        return "(no NanoGPT training step in this run)"
    impls = [i for i in IMPLS if any(m["impl"] == i for m in train)]
    if not any(m["impl"] in NNX_IMPLS for m in result["measurements"]):  # no NNX figure in this run
        impls.append("nnx.jit")  # its cells say "not measured"
    largest = max((Size(**m["size"]) for m in train), key=lambda s: s.train_gflops())
    lines = ["| size | " + " | ".join(impls) + " |", "| --- |" + " --- |" * len(impls)]
    for name, size in (("the curriculum's", CURRICULUM), ("the largest", largest)):
        at = {m["impl"]: m for m in train if m["size"] == asdict(size)}
        if not at:
            continue
        cells = []
        for i in impls:
            m = at.get(i)
            if m is None:
                cells.append("-" if any(g["impl"] == i for g in result["measurements"]) else "not measured")
                continue
            mark = "?" if m.get("unstable") else ""
            cells.append(f"{_fmt_ms(m['median_s'])}{mark} ms" + (
                "" if i == "torch" else f" ({_fmt_ratio(m['speedup_vs_torch'])}×{mark})"))
        lines.append(f"| {name}, {size.label} ({size.train_gflops():.2g} GFLOP) | " + " | ".join(cells) + " |")
        if size == largest:
            break
    return "\n".join(lines)


def conditions(result: dict) -> str:
    """One line: the command, when, threads, load, time taken and how many figures were flagged."""
    machine, settings, summ = result["machine"], result["settings"], result["summary"]
    start, end = machine.get("load_average_at_start"), machine.get("load_average_at_end")
    return (f"Measured {result['created'][:16].replace('T', ' ')}: `learngpt bench"
            f"{' --quick' if settings.get('quick') else ''}` ({settings.get('label') or 'as run'}), "
            f"threads torch {machine['torch_threads']} / XLA {xla_threads(machine)}, load average "
            f"{start[0]:.1f} at start and {end[0]:.1f} at end on {cores(machine)}, "
            f"{_num(settings.get('wall_seconds')):.0f} s; {summ.get('unstable_figures', 0)} of "
            f"{summ.get('figures', 0)} figures flagged unstable.")


def ratios_agreement(a: str, b: str) -> str:
    """Two runs' paired ratios side by side (e.g. under a CPU hog and idle): the relative difference, and
    whether each pair agrees within 25 % or one of the two is flagged."""
    ra, rb = load_bench(a), load_bench(b)

    def ratios(result):
        out = {}
        for m in result["measurements"]:
            if not m["error"] and m["impl"] != "torch":
                out[(m["component"], m["mode"], m["impl"], Size(**m["size"]).label)] = m
        for lp in result["loops"]:
            if not lp["error"] and lp["loop"] != "torch loop":
                out[("loop", lp["loop"], "", Size(**lp["size"]).label)] = lp
        return out
    xa, xb = ratios(ra), ratios(rb)
    lines = [f"Run A: {ra['settings'].get('label') or a} (`docs/results/{a}.json`); run B: "
             f"{rb['settings'].get('label') or b} (`docs/results/{b}.json`). Ratio = speed-up against torch "
             "eager (the torch loop for a loop), the median of the paired ratios; ? = flagged unstable.", "",
             "| figure | run A | run B | A vs B | verdict |", "| --- | --- | --- | --- | --- |"]
    for key in xa:
        if key not in xb:
            continue
        ma, mb = xa[key], xb[key]
        va, vb = _num(ma["speedup_vs_torch"]), _num(mb["speedup_vs_torch"])
        diff = va / vb - 1
        flagged = [run for run, m in (("A", ma), ("B", mb)) if m.get("unstable")]
        verdict = ("agree within 25 %" if abs(diff) <= 0.25 else "differ by more than 25 %") + (
            f"; flagged in {' and '.join(flagged)}" if flagged else "")
        name = " ".join(k for k in key if k)
        lines.append(f"| {name} | {va:.3g}×{'?' if ma.get('unstable') else ''} | "
                     f"{vb:.3g}×{'?' if mb.get('unstable') else ''} | {diff:+.0%} | {verdict} |")
    return "\n".join(lines)


def attempts_table(result: dict) -> str:
    """What was tried for the Flax loop (experiments/flax_loop_attempts.py): paired speed-up, kernels a step."""
    lines = [f"| variant of the scan-fused step | speed vs before (median of {result['rounds']} paired rounds, "
             "IQR) | steps/s | kernels a step | while loops | largest kernel (instructions) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        lines.append(f"| {r['variant']} | {_num(r['speedup_vs_first']):.2f}× [{_num(r['speedup_p25']):.2f}, "
                     f"{_num(r['speedup_p75']):.2f}] | {_num(r['steps_per_second']):.0f} | {r['kernels']} | "
                     f"{r['while_loops']} | {r.get('largest_kernel', '')} |")
    load = result.get("load_average")
    wait = result.get("cpu_wait")
    lines.append("")
    lines.append(f"Measured {result['created'][:16].replace('T', ' ')}, {result['steps']}-step scans, one XLA thread, "
                 f"load average {_num(load):.1f} on {result['cores']} cores"
                 + (f", the scans waited for a CPU {wait:.0%} of the time" if wait is not None else "") + ".")
    return "\n".join(lines)


def bench_block(arg: str) -> str:
    """The body of the generated block `name`: bench:RESULT:table|headline|loops|conditions,
    bench:compare:RESULT_A:RESULT_B, or bench:attempts:RESULT (RESULT: a file docs/results/RESULT.json)."""
    name = "bench:" + arg
    parts = name.split(":")
    if len(parts) < 3:
        raise ValueError(f"unknown generated block {name!r}")
    if parts[1] == "compare" and len(parts) == 4:
        return ratios_agreement(parts[2], parts[3]) + "\n"
    if parts[1] == "attempts":
        return attempts_table(load_bench(parts[2])) + "\n"
    result = load_bench(parts[1])
    kind = parts[2]
    if kind == "table":
        return "```text\n" + format_table(result) + "\n```\n"
    if kind == "headline":
        return headline(result) + "\n"
    if kind == "loops":
        return loops_table(result) + "\n"
    if kind == "conditions":
        return conditions(result) + "\n"
    raise ValueError(f"unknown generated block {name!r}")


def render(name: str) -> str:
    """The body of the block called `name` (see BLOCKS)."""
    kind, _, arg = name.partition(":")
    if kind not in BLOCKS:
        raise KeyError(f"unknown generated block {name!r}; known: {sorted(BLOCKS)}")
    return BLOCKS[kind](arg).rstrip("\n") + "\n"


def nnx_overhead(_: str = "") -> str:
    """experiments/nnx_overhead.py: one training step per Python call in each form, and the whole trainers, paired."""
    r = load("nnx-overhead.json")
    lines = ["| one step per Python call | steps/s | time per step vs linen's jax.jit (median, IQR) | compile (s) |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {v['variant']} | {v['steps_per_second']:.1f} | {v['time_vs_linen_jax.jit']:.2f}× "
              f"[{v['ratio_p25']:.2f}, {v['ratio_p75']:.2f}] | {v['compile_and_first_call_s']:.1f} |" for v in r["steps"]]
    lines += ["", f"| trainer, {r['trainer_steps']} steps | steps/s | time per step vs linen fast (median, IQR) |",
              "| --- | --- | --- |"]
    lines += [f"| {v['variant']} | {v['steps_per_second']:.1f} | {v['time_vs_linen_fast']:.2f}× "
              f"[{v['ratio_p25']:.2f}, {v['ratio_p75']:.2f}] |" for v in r["trainers"]]
    m = r["machine"]
    load_avg = ", ".join(f"{x:.1f}" for x in m["load_average_at_start"])
    lines += ["", f"nnx.jit's Python work beyond jax.jit's: {r['nnx_jit_python_overhead_us'] / 1000:.1f} ms a call. "
              f"Measured {r['created'][:16].replace('T', ' ')}: {r['rounds']} rounds of {r['calls_per_round']} calls "
              f"({r['trainer_rounds']} of the trainers), {m['cpu_model']}, {m['cpu_count']} cores, load average "
              f"{load_avg} at the start, flax {m['versions']['flax']}, jax {m['versions']['jax']}."]
    return "\n".join(lines)


def nanogpt_speed(name: str = "") -> str:
    """experiments/nanogpt_speed.py (docs/results/NAME.json, default nanogpt-speed): the torch reference's
    laptop-preset training steps/s, before (90c941b) and now, beside nanoGPT's own model and train.py step and
    learngpt's Flax, paired; then the ops (torch.profiler self time) where the reference's step differs from
    nanoGPT's."""
    r = load(f"{name or 'nanogpt-speed'}.json")
    lines = [f"| arm, {r['threads']} thread(s) | steps/s (median of rounds) | vs nanoGPT's train.py (median of paired "
             "rounds, 95 % interval) | waiting for a CPU (share of the timed wall, median) | warm-up (s) |",
             "| --- | --- | --- | --- | --- |"]
    for a in r["arms"]:
        lines.append(f"| {a['arm']} | {a['steps_per_second']:.1f} | "
                     f"{_ratio_cell(a['ratio_to_nanogpt'], (a['ratio_low'], a['ratio_high']))} | "
                     f"{a['run_queue_wait_median']:.0%} | {a['warmup_s']:.1f} |")
    h, x, f = r["head_over_before"], r["avx2_over_default"], r.get("flax_head_over_before")
    flax = f"; learngpt Flax HEAD over 90c941b: {_ratio_cell(f['median'], (f['low'], f['high']))}" if f else ""
    lines += ["", f"learngpt torch HEAD over 90c941b: {_ratio_cell(h['median'], (h['low'], h['high']))}{flax}; "
              f"torch HEAD under ATEN_CPU_CAPABILITY=avx2 over its default kernels: "
              f"{_ratio_cell(x['median'], (x['low'], x['high']))} (paired rounds, 95 % interval; above 1: faster)."]
    ref, head = r["reference"], "learngpt torch HEAD"
    p_ref, p_head = r["profiles"][ref], r["profiles"][head]
    rows = r["op_differences_head_vs_nanogpt"][:10]
    lines += ["", f"| op (torch.profiler, self CPU time) | {ref} (ms a step) | {head} (ms a step) | calls a step "
              "(nanoGPT / learngpt) |", "| --- | --- | --- | --- |"]
    for d in rows:
        lines.append(f"| `{d['op']}` | {d[ref] / 1000:.1f} | {d[head] / 1000:.1f} | "
                     f"{d['calls_per_step_' + ref]:.0f} / {d['calls_per_step_' + head]:.0f} |")
    lines.append(f"| all ops | {p_ref['ops_self_ms_per_step']:.1f} | {p_head['ops_self_ms_per_step']:.1f} | "
                 f"{p_ref['ops_per_step']:.0f} / {p_head['ops_per_step']:.0f} |")
    sm = {n: r["softmax_ops"][n] for n in (head, head + " avx2")}
    caps = {n: r["profiles"][n]["cpu_capability"] for n in sm}
    lines += ["", f"The rows: the {len(rows)} ops whose self time differs most over {r['profile_steps']} profiled "
              f"steps of each. The reference's softmax (forward, backward) at this size: "
              + ", ".join(f"{sm[n]['aten::_softmax']['self_us_per_call']:.0f} µs and "
                          f"{sm[n]['aten::_softmax_backward_data']['self_us_per_call']:.0f} µs a call under {caps[n]}"
                          for n in sm)
              + f" ({sm[head]['aten::_softmax']['calls_per_step']:.0f} calls a step each)."]
    m = r["machine"]
    lines += ["", f"Measured {r['created'][:16].replace('T', ' ')}: {r['rounds']} rounds of {r['steps_per_round']} "
              f"steps per arm in rotating order, each arm a warm process of its own on {r['threads']} thread(s), "
              f"{m['cpu_model']}, {m['cpu_count']} cores shared with other work: 1-minute load average "
              f"{r['load_1min_median']:.1f} (median over the rounds, max {r['load_1min_max']:.1f}); torch "
              f"{m['versions']['torch']}, jax {m['versions']['jax']}, flax {m['versions']['flax']}; nanoGPT "
              f"{r['nanogpt']['commit'][:7]}, learngpt {r['learngpt_commit'][:7]} (before: {r['before_commit'][:7]})."]
    return "\n".join(lines)


# The GPU run (tools/gpu.sh -> tools/gpu_record.py -> docs/results/gpu-*.json)

GPU_NONE = ("No GPU run recorded yet: `bash tools/gpu.sh OUT` on a machine with an NVIDIA GPU, then "
            "`python tools/gpu_record.py OUT` (docs/bench.md, \"On an NVIDIA GPU\").")


def _gpu_load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _gpu_conditions(run: dict, result: dict | None) -> str:
    """One line: the GPU, the versions, the date, the run's time against its limit and how each part ended."""
    m = (result or {}).get("machine") or {}
    v = m.get("versions") or {}
    parts = ", ".join(f"{p['part']} {p['status']} in {p['seconds']:.0f} s" for p in run["parts"])
    where = m.get("gpu_name") or m.get("cpu_model") or "a device not recorded"
    return (f"Measured {run['created'][:16].replace('T', ' ')} on {where}"
            + (f" (JAX: {m['jax_device_kind']})" if m.get("jax_device_kind") else "")
            + f": torch {v.get('torch')}, jax {v.get('jax')}, flax {v.get('flax')}; "
            f"the run took {run['wall_seconds']:.0f} s of the {run['plan']['command_limit_seconds']} s limit "
            f"({parts}).")


def gpu_matrix(result: dict, run: dict) -> str:
    """Every rung: each arm's steps/s, its paired speed-up over torch eager in fp32 with the 95 % interval, GFLOP/s
    and the share of its own precision's measured matmul peak, compile time; then the fairness pairs."""
    lines = [_gpu_conditions(run, result), ""]
    peak = (result.get("peak") or {}).get("gflops") or {}
    if peak:
        lines += ["Measured matmul peak (" + f"{result['peak']['n']}², the better framework's): " + "; ".join(
            f"{p} {_num(v['peak']):.0f} GFLOP/s (torch {_num(v['torch']):.0f}, JAX {_num(v['jax']):.0f})"
            for p, v in peak.items()) + ".", ""]
    read = next((r["settings"] for r in result["rungs"].values() if len(r.get("settings") or {}) > 1), {})
    lines += [f"- {p}: {text}" + (f" (read back in the run: torch `{read[p].get('torch_float32_matmul_precision')}`, "
                                  f"JAX `{read[p].get('jax_default_matmul_precision')}`)" if p in read else "")
              for p, text in result["precisions"].items()] + [""]
    for name, r in result["rungs"].items():
        if "size" not in r:
            lines += [f"**{name}**: {r.get('skipped') or 'not measured'}.", ""]
            continue
        lines += [f"**{name}**, {_size_label(r['size'])} ({r['gflop_per_step']:.3g} GFLOP a step), dropout "
                  f"{r['dropout']}, segments of {r['segment_steps']} steps, {r['rounds']} rounds"
                  + (f" ({r['stopped']})" if r.get("stopped") else "") + ":", "",
                  "| mode | precision | steps/s | vs torch eager, fp32 [95 % interval] | GFLOP/s | % of its peak "
                  "| compile (s) |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for key, a in r["arms"].items():
            head = f"| {a['mode']} | {a['precision']} |"
            if not a.get("steps_per_second"):
                why = a.get("error") or a.get("skipped") or "no round finished"
                lines.append(f"{head} {'error: ' if a.get('error') else ''}{why} | | | | |")
                continue
            ratio = ("the base" if key == result["reference"] else
                     _ratio_cell(a.get("vs_reference"), a.get("interval")) + ("?" if a.get("flags") else ""))
            share = a.get("peak_share")
            share = "n/a" if share is None else f"{share:.0%}" if share >= 0.1 else f"{share:.1%}"
            gflops = f"{a['gflops_per_second']:.0f}" if a["gflops_per_second"] >= 100 else f"{a['gflops_per_second']:.3g}"
            lines.append(f"{head} {a['steps_per_second']:.1f} | {ratio} | {gflops} | {share} | "
                         f"{_num(a.get('compile_seconds')):.1f} |")
        if r["pairs"]:
            lines += ["", "| paired, round by round | a over b [95 % interval] | rounds |", "| --- | --- | --- |"]
            lines += [f"| {pair.replace(' | ', ' ')} | {_ratio_cell(f['median'], f['interval'])}"
                      f"{'?' if f['flags'] else ''} | {f['rounds']} |" for pair, f in r["pairs"].items()]
        lines.append("")
    lines.append(f"? = the 95 % interval spans more than {result['interval_limit']:.0%} of its median. Compile: "
                 "JAX's ahead-of-time compilation plus the first segment's time beyond a steady segment's (where "
                 "torch.compile compiles, in the first step). GFLOP a step: three times the forward's "
                 "multiply-adds (learngpt_lab.bench.plan.Size.train_gflops).")
    return "\n".join(lines)


def gpu_parity(parity: dict | None, traj: dict | None) -> str:
    """The components' parity on the GPU (torch and JAX both there, TF32 off) and the trajectories."""
    lines = []
    if parity is None:
        lines.append("The components' parity wrote no file in the recorded run (gpu-run.json says how it ended).")
    else:
        b = parity["bounds"]
        lines += [f"Every component, torch and JAX both on the GPU, TF32 off; bounds: " + "; ".join(
            f"{d} output <= {v['output']:.0e}, gradient <= {v['gradient']:.0e}" for d, v in b.items())
            + f". {sum(r['ok'] for r in parity['rows'])} of {len(parity['rows'])} pass"
            + ("" if parity.get("complete", True) else " (the part was stopped at its cap after these rows)")
            + ".", "",
            "| component | dtype | max \\|Δ output\\| | max \\|Δ gradient\\| | result |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['component']} | {r['dtype']} | {r['output_max_diff']:.2e} | {r['grad_max_diff']:.2e} | "
                  f"{'pass' if r['ok'] else 'FAIL'} |" for r in parity["rows"]]
    lines.append("")
    if traj is None:
        lines.append("The trajectory wrote no file in the recorded run (gpu-run.json says how it ended).")
    else:
        lines += ["| trajectory, torch against | dtype | seed | max \\|Δ step loss\\| | max \\|Δ evaluation\\| | "
                  "max \\|Δ parameter\\| | bound | result |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['side']} | {r['dtype']} | {r['seed']} | {r['step_loss_max']:.1e} | {r['eval_loss_max']:.1e} "
                  f"| {r['param_max']:.1e} | {r['bound']:.0e} | {'pass' if r['ok'] else 'FAIL'} |"
                  for r in traj["verdicts"]]
    return "\n".join(lines)


def gpu_summary(result: dict | None, parity: dict | None, traj: dict | None, run: dict) -> str:
    """The README's line: at the GPU rung, Flax fast against torch.compile (plain and with CUDA graphs) in each
    precision, and the parity counts."""
    m = (result or {}).get("machine") or {}
    said = []
    r = (result or {}).get("rungs", {}).get("gpu")
    if r:
        for p in ("fp32", "tf32", "bf16"):
            cells = [f"{_ratio_cell(f['median'], f['interval'])} {b.split(' | ')[0]}" for pair, f in r["pairs"].items()
                     for a, b in [pair.split(" / ")] if a == f"Flax fast | {p}" and b.endswith(f"| {p}")
                     and b.startswith("torch.compile")]
            if cells:
                said.append(f"{p}: Flax fast " + ", ".join(cells))
    checks = []
    if parity:
        checks.append(f"parity {sum(x['ok'] for x in parity['rows'])}/{len(parity['rows'])}")
    if traj:
        checks.append(f"trajectories {sum(x['ok'] for x in traj['verdicts'])}/{len(traj['verdicts'])} within bounds")
    return (f"GPU ({m.get('gpu_name') or 'the device in docs/bench.md'}, {run['created'][:10]}; docs/bench.md): at nanoGPT's GPU "
            f"recipe (B64 T256 C384 L6 H6) " + ("; ".join(said) or "no paired figure recorded")
            + (f"; {', '.join(checks)}" if checks else "") + ".")


def gpu_block(arg: str) -> str:
    """gpu:matrix and gpu:parity (docs/bench.md), gpu:summary (the README): one line while no run is recorded."""
    run = _gpu_load("gpu-run")
    if run is None:
        return GPU_NONE
    result, parity, traj = _gpu_load("gpu-bench"), _gpu_load("gpu-parity"), _gpu_load("gpu-trajectory")
    if arg == "matrix":
        return gpu_matrix(result, run) if result else _gpu_conditions(run, None) + " The matrix wrote no file."
    if arg == "parity":
        return gpu_parity(parity, traj)
    if arg == "summary":
        return gpu_summary(result, parity, traj, run)
    raise ValueError(f"unknown generated block 'gpu:{arg}'; expected gpu:matrix, gpu:parity or gpu:summary")


BLOCKS: dict[str, Callable[[str], str]] = {
    # answers-week2:default -> the week-2 answers table of the default profile
    "answers-week1": lambda profile: answers_table(profile, ("test_1", "test_2", "test_3", "test_4", "test_5", "test_6")),
    "answers-week2": lambda profile: answers_table(profile, ("test_7", "test_8", "test_9", "test_10")),
    # per-seed:full:test_multi_head_helps
    "per-seed": lambda arg: per_seed(*arg.split(":", 1)),
    "question": question_block,
    "profiles": lambda _: profiles(),
    "layer-norm-depth": lambda _: layer_norm_depth(),
    "multi-head-seeds": lambda _: multi_head_seeds(),
    "multi-head-speed": lambda _: multi_head_speed(),
    "speed-conditions": speed_conditions,
    "ci-run": lambda _: ci_run(),
    # ci-profile: tools/ci_profile.py's CPU seconds per test file
    "ci-profile": ci_profile,
    # trajectory:summary, trajectory:table -> tools/trajectory.py's runs
    "trajectory": trajectory,
    "attention-scale": lambda _: attention_scale(),
    "parity": lambda _: parity_table(),
    # compare:compare -> the table `learngpt compare` printed, from docs/results/compare/history_*.json
    "compare": lambda arg: compare_table(arg),
    # bench:RESULT:headline and the like: docs/bench.md's blocks from docs/results/RESULT.json
    "bench": lambda arg: bench_block(arg),
    # compare-runs:NAME -> tools/compare_runs.py's repeated runs; laptop:NAME -> the laptop recipe's losses
    "compare-runs": compare_runs,
    "laptop": laptop,
    # flax-attempts:RESULT -> experiments/flax_fast_attempts.py's variants of the Flax fast step
    "flax-attempts": flax_attempts,
    # ladder:table, ladder:summary (ladder:table:FILE for docs/results/FILE.json): tools/ladder.py's sizes
    "ladder": ladder_block,
    # port-gpt2:table, port-gpt2:planted: docs/port.md's GPT-2 (tools/port_gpt2.py)
    "port-gpt2": port_gpt2,
    # port-models:tables, port-models:planted: docs/port.md's BERT and OPT results (tools/port_models.py)
    "port-models": port_models,
    # port-zoo:cases, port-zoo:planted, port-zoo:hour:N: docs/port.md's models beyond transformers (tools/port_zoo.py)
    "port-zoo": port_zoo,
    # flax-profile:RESULT -> tools/profile_step.py's kernels of the Flax fast step
    "flax-profile": flax_profile,
    # parallel:table, parallel:held, parallel:killed: docs/parallel.md, from what tests/parallel measured
    "parallel": parallel,
    # nnx-overhead: experiments/nnx_overhead.py, NNX's Python cost against linen and jax.jit
    "nnx-overhead": nnx_overhead,
    # nanogpt-speed[:RESULT]: experiments/nanogpt_speed.py, the torch reference beside nanoGPT's own step
    "nanogpt-speed": nanogpt_speed,
    # gpu:matrix, gpu:parity, gpu:summary: the recorded GPU run (tools/gpu_record.py -> docs/results/gpu-*.json)
    "gpu": gpu_block,
}


def regenerate(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m["name"]) + m.group(4), text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python tools/docs.py", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if a document disagrees with the results files")
    args = p.parse_args(argv)
    stale = []
    for doc in DOCUMENTS:
        path = ROOT / doc
        text = path.read_text(encoding="utf-8")
        new = regenerate(text)
        if new != text:
            stale.append(doc)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"out of date with docs/results/: {', '.join(stale)} (run python tools/docs.py)", file=sys.stderr)
        return 1
    print(("rewrote " + ", ".join(stale)) if stale and not args.check else "every generated block is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())

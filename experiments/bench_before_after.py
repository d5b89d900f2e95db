"""Did issue 38's restructuring move the bench's paired ratios? `learngpt bench` run from another checkout
(before) and from this one (after), the order alternating round by round, on one otherwise idle machine: each
run pairs its implementations and loops within itself (their ratios to torch come from the same rounds), and
the alternation pairs the two trees. Writes docs/results/bench-before-after.json: per run, the tree, its commit,
each figure's ratio to torch (the torch loop for a loop) with its 95 % interval and flag, and the torch loop's
steps/s.

    git archive 90c941b | tar -x -C /tmp/lg-before      # the tree before
    python experiments/bench_before_after.py --before /tmp/lg-before --rounds 2

The bench's flags are the same in both trees: `--quick --no-sweep --components NanoGPT --impls torch,jax.jit`,
with the loops 90c941b's --quick runs (this tree's --loops selects them; 90c941b has no --loops).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["bench", "--quick", "--no-sweep", "--components", "NanoGPT", "--impls", "torch,jax.jit", "--no-progress"]
LOOPS = "torch loop,torch.compile loop,flax scan,flax lesson scan"


def one_run(tree: Path, after: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "learngpt_lab.cli", *FLAGS, "--out", tmp] + (["--loops", LOOPS] if after else [])
        t0 = time.perf_counter()
        got = subprocess.run(cmd, capture_output=True, text=True, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)})
        if got.returncode != 0:
            raise SystemExit(f"bench_before_after: {' '.join(cmd[2:])} in {tree} failed:\n{got.stderr[-3000:]}")
        data = json.loads((Path(tmp) / "bench-cpu.json").read_text())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    figures = {}
    for m in data["measurements"]:
        if m["impl"] != "torch":
            figures[f"{m['component']} {m['mode']} {m['impl']}"] = {
                "ratio": m["speedup_vs_torch"], "interval": m.get("interval"), "unstable": m["unstable"],
                "median_ms": m["median_s"] * 1e3,
                "torch_median_ms": next(t["median_s"] * 1e3 for t in data["measurements"] if t["impl"] == "torch"
                                        and t["component"] == m["component"] and t["mode"] == m["mode"])}
    for lp in data["loops"]:
        figures[f"{lp['loop']} / torch loop"] = {"ratio": lp["speedup_vs_torch"], "interval": lp.get("interval"),
                                                 "unstable": lp["unstable"], "steps_per_second": lp["steps_per_second"]}
        for other, v in (lp.get("versus") or {}).items():
            figures[f"{lp['loop']} / {other}"] = {"ratio": v["median"], "interval": v["interval"],
                                                  "unstable": bool(v["flags"])}
    return {"tree": "after" if after else "before", "commit": commit.stdout.strip() if after else "before tree",
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "load_average": data["machine"]["load_average_at_start"],
            "figures": figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the checkout before")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--label", default="paired rounds, the order alternating, the 2-core machine otherwise idle")
    args = parser.parse_args()
    runs = []
    for r in range(args.rounds):
        for after in ((False, True) if r % 2 == 0 else (True, False)):
            runs.append(one_run(ROOT if after else args.before.resolve(), after))
            print(f"round {r + 1}: {runs[-1]['tree']} in {runs[-1]['wall_seconds']} s: " + ", ".join(
                f"{k} {v['ratio']:.3g}{'?' if v['unstable'] else ''}" for k, v in runs[-1]["figures"].items()),
                file=sys.stderr, flush=True)
    out = ROOT / "docs" / "results" / "bench-before-after.json"
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out.write_text(json.dumps({"schema": "learngpt-bench-before-after/1", "created": created,
                               "label": args.label, "flags": FLAGS, "loops": LOOPS, "runs": runs}, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`learngpt compare` run several times with the same flags: each run's steps/s per backend and their ratio,
so that the spread of the ratio between runs is measured rather than guessed.

    python tools/compare_runs.py --runs 3 --name default                      # the default compare, 3 times
    python tools/compare_runs.py --runs 1 --name laptop -- --preset laptop     # nanoGPT's laptop recipe

writes docs/results/compare-runs-NAME.json (every run: steps/s, compile, evaluations, how the backends ran)
and keeps the first run's history_<backend>.json in docs/results/compare-NAME/ (the `compare:compare-NAME`
block of tools/docs.py renders its table). Flags after `--` go to `learngpt compare` as they are.

With --before TREE (another checkout, e.g. `git worktree add --detach /tmp/lg-before 90c941b`), each round runs
compare from TREE and from this checkout, the order alternating round by round; each run names its tree and
commit, and the first run of this checkout's is the one kept.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_run(flags: list[str], keep: Path | None, tree: Path = ROOT) -> dict:
    """One `learngpt compare` from the checkout `tree`, in a fresh folder: what its histories and stdout say."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "learngpt_lab.cli", "compare", "--no-progress", "--out", tmp, *flags]
        t0 = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": str(tree)}
        got = subprocess.run(cmd, capture_output=True, text=True, cwd=tree, env=env)
        if got.returncode != 0:
            raise SystemExit(f"compare_runs: `{' '.join(cmd[2:])}` failed (exit {got.returncode}):\n"
                             + got.stderr[-3000:])
        histories = {p.name[len("history_"):-len(".json")]: json.loads(p.read_text())
                     for p in sorted(Path(tmp).glob("history_*.json"), key=lambda p: (p.name != "history_torch.json",
                                                                                     p.name))}
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for p in keep.glob("history_*.json"):
                p.unlink()
            for p in Path(tmp).glob("history_*.json"):
                shutil.copy(p, keep / p.name)
    together = next((line for line in got.stdout.splitlines() if line.startswith("the backends train")), "")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=tree)
    return {"tree": "before" if tree != ROOT else "this checkout", "commit": commit.stdout.strip(),
            "wall_seconds": time.perf_counter() - t0, "concurrent": "at the same time" in together,
            "how": together, "backends": {n: {k: h["history"][k] for k in ("steps", "steps_per_second",
                                                                          "train_seconds", "compile_seconds",
                                                                          "eval_seconds", "evals")}
                                          for n, h in histories.items()}}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="how many compare runs (default 3)")
    parser.add_argument("--name", default="default", help="NAME of the results file and folder (default default)")
    parser.add_argument("--label", default=None, help="a note on the conditions, kept in the file (default none)")
    parser.add_argument("--before", type=Path, default=None,
                        help="another checkout: each round runs it and this one, the order alternating")
    args = parser.parse_args(own)
    trees = [ROOT] if args.before is None else [args.before.resolve(), ROOT]
    from learngpt_lab import files, stats
    from learngpt_lab.bench.runners import describe_machine, setup_device
    keep = ROOT / "docs" / "results" / f"compare-{args.name}"
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    runs = []
    for i in range(args.runs):
        for tree in trees if i % 2 == 0 else trees[::-1]:
            runs.append(one_run(flags, keep if i == 0 and tree == ROOT else None, tree))
            r = runs[-1]["backends"]
            print(f"run {i + 1}/{args.runs} ({runs[-1]['tree']}, {runs[-1]['commit']}): "
                  + ", ".join(f"{n} {v['steps_per_second']:.1f}" for n, v in r.items())
                  + f" steps/s ({runs[-1]['how'] or 'one after the other'})", file=sys.stderr, flush=True)
    machine = describe_machine(setup_device("cpu"))
    result = {"schema": "learngpt-compare-runs/1", "created": started, "label": args.label, "flags": flags,
              "command": "python tools/compare_runs.py " + " ".join(argv), "cpu_model": machine["cpu_model"],
              "cores": stats.usable_cores(), "load_average_at_start": machine["load_average_at_start"], "runs": runs}
    files.write_text(ROOT / "docs" / "results" / f"compare-runs-{args.name}.json", json.dumps(result, indent=1) + "\n")
    print(f"wrote docs/results/compare-runs-{args.name}.json and {keep.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

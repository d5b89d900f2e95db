"""The training trajectory on one device, every backend on it: tools/trajectory.py's runs (torch against linen and
NNX, the same weights and batches, float64 on the config's seed and float32 on four) with torch's models and
tensors and JAX's default device on the GPU, TF32 off in both, checked against tests/parity/test_trajectory.py's
bounds.

    python tools/gpu_trajectory.py --device gpu --out gpu-out/gpu-trajectory.json

Exit status 1 when a bound is broken, 2 when a framework sees no GPU (one line).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path += [] if str(ROOT) in sys.path else [str(ROOT)]  # the checkout, when run as a script

# tests/parity/test_trajectory.py's bounds: |delta| of every step loss, evaluation and parameter after training
BOUND = {"float64": 1e-9, "float32": 1e-4}
FIGURES = ("step_loss_max", "eval_loss_max", "param_max")


def verdicts(result: dict) -> list[dict]:
    """One row per run and JAX side: its three figures against its dtype's bound."""
    rows = []
    for side, key in (("linen", "runs"), ("nnx", "nnx_runs")):
        for run in result[key]:
            bound = BOUND[run["dtype"]]
            rows.append({"side": side, "dtype": run["dtype"], "seed": run["seed"], "bound": bound,
                         **{f: run[f] for f in FIGURES}, "ok": all(run[f] <= bound for f in FIGURES)})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python tools/gpu_trajectory.py", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None)
    p.add_argument("--float32-seeds", type=int, default=0,
                   help="float32 runs on this many seeds beside the config's (default 0; tools/trajectory.py: 3)")
    args = p.parse_args(argv)
    from learngpt.errors import UserError
    from learngpt_lab.threads import set_threads
    set_threads(1)  # before JAX starts, as tools/trajectory.py
    try:
        from learngpt_lab import backends
        from learngpt_lab.bench.runners import describe_machine, setup_device
        dev = setup_device(args.device)  # TF32 off in both, JAX's default device
        from tools import trajectory
        trajectory.FLOAT32_SEEDS = trajectory.FLOAT32_SEEDS[:args.float32_seeds]
        with backends.get("torch").on(args.device), backends.get("flax").on(args.device):
            result = trajectory.measure(args.data, roundoff=False)
    except UserError as err:
        print(f"gpu_trajectory: error: {err}", file=sys.stderr)
        return 2
    rows = verdicts(result)
    result |= {"schema": "learngpt-gpu-trajectory/1", "device": args.device, "machine": describe_machine(dev),
               "bounds": BOUND, "verdicts": rows, "ok": all(r["ok"] for r in rows),
               "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    from learngpt_lab import files
    import json
    files.write_text(Path(args.out), json.dumps(result, indent=1) + "\n")
    for r in rows:
        print(f"{r['dtype']} seed {r['seed']} torch-{r['side']}: " + ", ".join(f"{f} {r[f]:.2e}" for f in FIGURES)
              + f" (bound {r['bound']:.0e}) {'pass' if r['ok'] else 'FAIL'}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

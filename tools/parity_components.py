"""`learngpt parity`'s table of every component, recorded: docs/parity.md renders it (tools/docs.py).

    python tools/parity_components.py --out learngpt_lab/data/parity.json

The same table the command prints (learngpt_lab.parity_table.components_table, seed 0: every component for each pair,
torch-linen, torch-NNX and linen-NNX, float32 and float64), measured with the threads pinned
before either framework starts (torch one intra-op thread, XLA's Eigen single-threaded): a float32 difference
at roundoff depends on the summation order, which the thread count moves.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, when run as a script


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python tools/parity_components.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the JSON file to write (learngpt_lab/data/parity.json)")
    args = p.parse_args(argv)
    from learngpt_lab.threads import set_threads
    set_threads(1)  # before JAX starts: XLA reads its thread flags once
    import torch

    from learngpt import components
    from learngpt_lab import files, stats
    from learngpt_lab.parity_table import components_table
    lines, failed = components_table(list(components.REGISTRY), seed=0,
                                     each=lambda line: print(line, file=sys.stderr, flush=True))
    machine = stats.machine()
    files.write_text(Path(args.out), json.dumps({
        "command": "learngpt parity", "seed": 0, "lines": lines, "failed": failed,
        "conditions": {"torch_threads": torch.get_num_threads(), "xla": "Eigen single-threaded",
                       "cpu_model": machine["cpu_model"], "versions": machine["versions"]},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Data-parallel scaling: training steps/s of NanoGPT against the data-parallel degree N, at a fixed global batch.

    python tools/scaling.py torch --ns 1 2 --steps 200 --repeats 3 --out docs/results/scaling-torch.json

Each run goes through learngpt_lab.parallel.train, as `learngpt train --nproc N` does; every record carries the
load average before and after, so that a figure measured on a busy machine shows it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Sequence

from learngpt.config import Config
from learngpt_lab.parallel import Layout, train


def measure_scaling(backend: str, ns: Sequence[int] = (1, 2, 4), steps: int = 200, cfg: Config | None = None,
                    corpus_path: str | None = None, how: str = "nproc", repeats: int = 1,
                    threads: int | None = 1, device: str = "cpu") -> list[dict]:
    """Training steps/s of NanoGPT against the data-parallel degree N at a fixed global batch (the seed's
    config unless cfg): torch with N processes, Flax with N processes (how="nproc") or N devices of one
    process (how="devices"). One record per (N, repeat): N, steps/s (training only, compile and evaluation
    excluded, rank 0's clock), rows per device, compile seconds, and the 1-minute load average before and
    after, so that a figure measured on a busy machine shows it."""
    from learngpt.data import find_corpus
    cfg = (cfg or Config()).replace(max_iters=steps, eval_interval=steps, eval_iters=1)
    corpus_path = str(find_corpus(corpus_path))
    records = []
    for r in range(repeats):
        for n in ns:
            layout = (Layout(backend, nproc=n, device=device) if how == "nproc" or backend == "torch" else
                      Layout(backend, devices=n, device=device))
            load_before = os.getloadavg()[0]
            t0 = time.perf_counter()
            history = train(layout, cfg, corpus_path, threads=threads)["history"]
            records.append({"backend": backend, "layout": layout.describe(), "n": n, "repeat": r,
                            "steps": history["steps"], "steps_per_second": history["steps_per_second"],
                            "rows_per_device": cfg.batch_size // n, "compile_seconds": history["compile_seconds"],
                            "wall_seconds": time.perf_counter() - t0, "load_before": load_before,
                            "load_after": os.getloadavg()[0], "cpus": os.cpu_count()})
    return records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("backend", choices=("torch", "flax"))
    p.add_argument("--ns", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--how", choices=("nproc", "devices"), default="nproc")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--out", default=None, help="write the records as JSON here (default: print them)")
    args = p.parse_args(argv)
    records = measure_scaling(args.backend, args.ns, args.steps, how=args.how, repeats=args.repeats,
                              device=args.device)
    text = json.dumps(records, indent=1)
    if args.out:
        from learngpt_lab import files
        files.write_text(args.out, text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

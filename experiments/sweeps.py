"""Sweeps behind two answers: where a claim that fails at the seed's size turns true, or starts to hold per seed.

    python experiments/sweeps.py layer-norm-depth --out docs/results/layer_norm_depth.json
    python experiments/sweeps.py multi-head-seeds --out docs/results/multi_head_seeds.json
    python experiments/sweeps.py multi-head-speed --out docs/results/multi_head_speed.json

Each writes one JSON file of per-run records (backend, arm, depth or steps, seed, final train and val loss);
docs/answers.md's tables are generated from these files (tools/docs.py). Every run is the
questions' own training (learngpt_lab/questions/training.py: the shared batch stream, fixed evaluation batches);
the speed sweep times as the speed questions do (learngpt_lab/questions/timing.py: a fresh process, one thread).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from learngpt_lab import stats
from learngpt.data import load_corpus
from learngpt_lab import backends
from learngpt_lab.questions import PROFILES, timing
from learngpt_lab.questions.training import gpt4_around, train_final

LAYER_NORM_ARMS = {"residual only (BlockVer2)": "BlockVer2", "pre-norm (BlockVer3)": "BlockVer3",
                   "post-norm (BlockVer3PostNorm)": "BlockVer3PostNorm"}


def layer_norm_depth(corpus, names, depths, seeds, steps, eval_iters, log) -> list[dict]:
    records = []
    for name in names:
        backend = backends.get(name)
        for depth in depths:
            for seed in seeds:
                cfg = PROFILES["default"].cfg(seed).replace(eval_iters=eval_iters)
                for label, block in LAYER_NORM_ARMS.items():
                    t0 = time.perf_counter()
                    point, rate = train_final(backend, gpt4_around(block, depth), cfg, corpus, steps, steps)
                    records.append({"backend": name, "depth": depth, "arm": label, "block": block, "seed": seed,
                                    "steps": steps, "train_loss": point.train_loss, "val_loss": point.val_loss,
                                    "steps_per_second": rate})
                    log(f"{name} depth {depth} seed {seed} {label}: val {point.val_loss:.4f} "
                        f"({time.perf_counter() - t0:.0f} s)")
    return records


def multi_head_seeds(corpus, names, steps_list, seeds, eval_iters, log) -> list[dict]:
    records = []
    for name in names:
        backend = backends.get(name)
        for steps in steps_list:
            for seed in seeds:
                cfg = PROFILES["default"].cfg(seed).replace(eval_iters=eval_iters)
                for arm in ("MultiHeadVer1", "HeadVer4"):
                    point, rate = train_final(backend, gpt4_around(arm), cfg, corpus, steps, steps)
                    records.append({"backend": name, "arm": arm, "seed": seed, "steps": steps,
                                    "train_loss": point.train_loss, "val_loss": point.val_loss,
                                    "steps_per_second": rate})
                    log(f"{name} {steps} steps seed {seed} {arm}: val {point.val_loss:.4f}")
    return records


# (B, T, C, heads): the width grown at the curriculum's context (T 8), then the context grown at C 512 (the
# seed's speed question is B, T, C = 32, 64, 512 with 8 heads)
SPEED_SIZES = ((32, 8, 16, 8), (32, 8, 64, 8), (32, 8, 128, 8), (32, 8, 256, 8), (32, 8, 512, 8),
               (32, 16, 512, 8), (32, 32, 512, 8), (32, 64, 512, 8), (32, 8, 64, 16))


def multi_head_speed(names, sizes, rounds, log) -> list[dict]:
    """MultiHeadVer1 / MultiHeadVer2 time per forward call, in paired rounds (`rounds` of them, in a fresh
    process as the speed question times): the median ratio and its range, op by op (torch eager, JAX without
    jit) and jitted (Flax)."""
    import numpy as np
    records = []
    for name in names:
        backend = backends.get(name)
        for B, T, C, nh in sizes:
            for mode in (("op by op", "jitted") if timing.COMPILES[backend.name] else ("op by op",)):
                calls = 3 if timing.COMPILES[backend.name] and mode == "op by op" else 10
                timed = timing.paired_forward_times(backend, [("MultiHeadVer1", (T, C, nh)),
                                                              ("MultiHeadVer2", (T, C, nh))],
                                                    (B, T, C), calls, rounds, modes=(mode,))
                ratios = stats.paired_ratios(*timed["modes"][mode]["times"])
                jit = mode == "jitted"
                records.append({"backend": name, "B": B, "T": T, "C": C, "n_heads": nh,
                                "mode": "jit" if jit else "op by op", "median": float(np.median(ratios)),
                                "low": float(min(ratios)), "high": float(max(ratios)), "ratios": ratios})
                log(f"{name} C {C} heads {nh} {'jit' if jit else 'op by op'}: v1/v2 {np.median(ratios):.2f}")
    return records


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python experiments/sweeps.py")
    p.add_argument("sweep", choices=("layer-norm-depth", "multi-head-seeds", "multi-head-speed"))
    p.add_argument("--out", required=True)
    p.add_argument("--backends", default="torch,flax")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--depths", default="5,10,20")
    p.add_argument("--steps", default="400", help="steps per run (multi-head-seeds: a comma-separated list)")
    p.add_argument("--eval-iters", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    from learngpt_lab.threads import set_threads
    set_threads(args.threads)
    corpus = load_corpus() if args.sweep != "multi-head-speed" else None
    names = tuple(args.backends.split(","))
    seeds = tuple(int(s) for s in args.seeds.split(","))
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    if args.sweep == "layer-norm-depth":
        records = layer_norm_depth(corpus, names, tuple(int(d) for d in args.depths.split(",")), seeds,
                                   int(args.steps), args.eval_iters, log)
    elif args.sweep == "multi-head-seeds":
        records = multi_head_seeds(corpus, names, tuple(int(s) for s in args.steps.split(",")), seeds,
                                   args.eval_iters, log)
    else:
        records = multi_head_speed(names, SPEED_SIZES, 5, log)
    from learngpt_lab import files
    import os
    files.write_text(args.out, json.dumps({"sweep": args.sweep, "eval_iters": args.eval_iters, "threads": args.threads,
                                           "seconds": time.perf_counter() - t0, "load_average_at_end": os.getloadavg(),
                                           "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

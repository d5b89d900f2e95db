"""What moves test_7's speed figure (MultiHeadVer1 / MultiHeadVer2, op by op, torch, B T C 32 8 64, 8 heads).

Each condition runs in its own fresh interpreter, and the conditions take turns (A B C ..., then again), so
that load that comes and goes falls on all of them alike. Per condition and repeat: the median of 5 paired
ratios of 10-call turns, v1's and v2's time per call, and v2's minor page faults per call.

- "in process": timed in the measuring process itself, as the question did before it moved to a child
  (learngpt_lab/questions/timing.py), with glibc's allocator as the environment leaves it;
- "in process, after training": the same after 60 NanoGPT training steps in that process;
- "child, pinned": the question's method (a fresh process, one thread, the allocator pinned).

    python experiments/speed_conditions.py --repeats 3 --out docs/results/speed-conditions.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONDITIONS = {
    "in process, default allocator": ("in process", {}),
    "in process, after training": ("after training", {}),
    "in process, MALLOC_TRIM_THRESHOLD_=0": ("in process", {"MALLOC_TRIM_THRESHOLD_": "0"}),
    "in process, MALLOC_MMAP_THRESHOLD_=32768": ("in process", {"MALLOC_MMAP_THRESHOLD_": "32768"}),
    "child, pinned": ("child", {}),
    "child, pinned, MALLOC_MMAP_THRESHOLD_=32768": ("child", {"MALLOC_MMAP_THRESHOLD_": "32768"}),
}
B, T, C, NH = 32, 8, 64, 8
CALLS, ROUNDS = 10, 5


def _in_process(after_training: bool) -> dict:
    import resource

    import numpy as np

    from learngpt_lab import backends
    from learngpt_lab.threads import set_threads
    set_threads(1, xla=False)
    backend = backends.get("torch")
    if after_training:
        from learngpt.components import NANOGPT
        from learngpt.config import Config
        from learngpt.data import BatchSampler, load_corpus
        cfg = Config(eval_iters=2)
        sampler = BatchSampler(load_corpus(), cfg.batch_size, cfg.block_size, seed=0)
        model = backend.create(NANOGPT.recipe(cfg), np.zeros((1, cfg.block_size), np.int64))
        backend.train(model, cfg, sampler, max_iters=60, eval_interval=60)
    x = np.random.default_rng(0).standard_normal((B, T, C)).astype(np.float32)
    v1 = backend.create(lambda lib: lib.MultiHeadVer1(T, C, NH), x)
    v2 = backend.create(lambda lib: lib.MultiHeadVer2(T, C, NH), x)
    times, faults = ([], []), []
    for _ in range(ROUNDS):  # v1 then v2, as the question timed them in the test process
        times[0].append(backend.adapter.timed_forward(v1, x, CALLS, False))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        times[1].append(backend.adapter.timed_forward(v2, x, CALLS, False))
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return {"times": times, "faults": faults}


def _child() -> dict:
    from learngpt_lab import backends
    from learngpt_lab.questions import timing
    timed = timing.paired_forward_times(backends.get("torch"), [("MultiHeadVer1", (T, C, NH)),
                                                                ("MultiHeadVer2", (T, C, NH))],
                                        (B, T, C), CALLS, ROUNDS, modes=("op by op",))
    mode = timed["modes"]["op by op"]
    return {"times": mode["times"], "faults": mode["faults"][1]}


def measure(how: str) -> None:
    """In a fresh interpreter: one repeat of a condition, printed as JSON."""
    import numpy as np
    got = _child() if how == "child" else _in_process(how == "after training")
    v1, v2 = got["times"]
    print(json.dumps({"ratio": float(np.median([a / b for a, b in zip(v1, v2)])),
                      "v1_ms_per_call": 1e3 * float(np.median(v1)) / CALLS,
                      "v2_ms_per_call": 1e3 * float(np.median(v2)) / CALLS,
                      "v2_faults_per_call": float(np.median(got["faults"])) / CALLS}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="docs/results/speed-conditions.json")
    parser.add_argument("--measure", choices=("in process", "after training", "child"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.measure)
    t0 = time.perf_counter()
    records = {name: [] for name in CONDITIONS}
    for r in range(args.repeats):
        for name, (how, env) in CONDITIONS.items():
            clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
            got = subprocess.run([sys.executable, __file__, "--measure", how], env=clean | env, check=True,
                                 capture_output=True, text=True)
            records[name].append(json.loads(got.stdout.splitlines()[-1]))
            print(f"repeat {r + 1}: {name}: {records[name][-1]}", file=sys.stderr)
    from learngpt_lab.stats import machine
    out = {"measurement": f"MultiHeadVer1 / MultiHeadVer2 forward, torch eager, one thread, B T C {B} {T} {C}, "
                          f"{NH} heads, median of {ROUNDS} paired ratios of {CALLS}-call turns",
           "repeats": args.repeats, "conditions": {n: {"env": CONDITIONS[n][1], "repeats": records[n]}
                                                   for n in CONDITIONS},
           "seconds": time.perf_counter() - t0, "load_average_at_end": os.getloadavg(),
           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu_model": machine()["cpu_model"]}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

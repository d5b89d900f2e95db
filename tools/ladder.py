"""The size ladder: how much jit buys at the sizes people train, and how close each mode gets to the machine.

For each rung (RUNGS: the curriculum's config, a middle size, nanoGPT's laptop recipe, a plainly compute-bound
width) the training loops of every mode (MODES: torch eager, torch.compile, the lesson's Flax trainer under
plain jax.jit, learngpt_flax.fast) train NanoGPT on the same batch stream in segments that take turns
(learngpt_lab.bench.runners.measure_loops: paired rounds, added until each ratio's 95 % interval is narrow or
the budget is spent). Each rung is measured with one thread and with all cores, each thread count in a fresh
process (XLA reads its thread flags once, at start). Beside the loops, the machine's matmul peak at the same
threads, measured here (the best of numpy's and XLA's float32 matmul): GFLOP/s of a step (learngpt_lab.bench.
plan.Size.train_gflops, three times the forward's multiply-adds) against it.

    python tools/ladder.py --out docs/results/ladder.json              # the committed file (idle machine)
    python tools/ladder.py --rungs curriculum --threads 1 --scale 0.1 --out /tmp/ladder.json   # a smoke run

docs/bench.md's "ladder" blocks and the README's "ladder:summary" are generated from the file (tools/docs.py).
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
sys.path.insert(0, str(ROOT))

# name -> (batch, block, embed, layers, heads), dropout, steps per segment (about a second of torch eager)
RUNGS = {
    "curriculum": ((32, 8, 16, 5, 8), 0.05, 60),
    "middle": ((32, 32, 64, 5, 8), 0.0, 20),
    "laptop": ((12, 64, 128, 4, 4), 0.0, 12),  # nanoGPT's CPU recipe (learngpt.config.PRESETS["laptop"])
    "wide": ((12, 64, 256, 4, 8), 0.0, 4),  # compute-bound: 4C^2 and 8C^2 matmuls dominate a step
}
MODES = ("torch loop", "torch.compile loop", "flax lesson scan", "flax scan")
LABELS = {"torch loop": "torch eager", "torch.compile loop": "torch.compile", "flax lesson scan": "Flax jax.jit",
          "flax scan": "Flax fast"}
MATMUL = 1024  # float32 square matmul for the peak: 2.1 GFLOP, large enough for every BLAS to reach its rate


def thread_env(threads: int) -> dict:
    """The environment of a child measuring with `threads` threads: BLAS pools for numpy's matmul, XLA's."""
    from learngpt_lab.threads import xla_flags
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["XLA_FLAGS"] = xla_flags(env.get("XLA_FLAGS", ""), "--xla_cpu_multi_thread_eigen",
                                 "true" if threads > 1 else "false")
    return env


def matmul_peak(n: int = MATMUL, seconds: float = 2.0, device: str = "cpu") -> dict:
    """GFLOP/s of a float32 n x n matmul, the best repeat of numpy's (BLAS) and of XLA's (jax.jit, on JAX's
    default device), each repeated for about `seconds`: the machine's arithmetic limit at this process's
    threads. On a GPU, XLA's alone (n 4096), numpy's is the host's."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    n = 4096 if device == "gpu" else n
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in "ab")
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    mm = jax.jit(jnp.matmul)
    out = {}
    calls = (("numpy", lambda: a @ b),) if device == "cpu" else ()
    for name, call in calls + (("jax", lambda: mm(ja, jb).block_until_ready()),):
        call()
        best, t_end = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - t0)
        out[name] = 2 * n ** 3 / best / 1e9
    out.setdefault("numpy", float("nan"))
    out["peak"] = max(v for v in out.values() if v == v)
    return out


def measure(threads: int, rungs: list[str], scale: float, budget: float, max_rounds: int, min_rounds: int,
            device_kind: str = "cpu") -> dict:
    """In this process (its threads set before JAX or torch started): the peak, then every rung's loops."""
    from learngpt_lab.threads import pin, set_threads
    pin(threads)
    set_threads(threads)
    from learngpt.config import Config
    from learngpt.data import load_corpus
    from learngpt_lab.bench.plan import Size
    from learngpt_lab.bench.runners import measure_loops, setup_device

    device = setup_device(device_kind)  # a GPU: TF32 off in both frameworks, JAX's default device
    peak = matmul_peak(device=device_kind)
    print(f"  threads {threads}: matmul peak {peak['peak']:.0f} GFLOP/s (numpy {peak['numpy']:.0f}, "
          f"XLA {peak['jax']:.0f})", file=sys.stderr, flush=True)
    corpus = load_corpus(None)
    out = {"threads": threads, "device": device_kind, "matmul": peak, "rungs": {}}
    for name in rungs:
        dims, dropout, segment = RUNGS[name]
        size = Size(*dims)
        segment = max(1, round(segment * scale))
        cfg = size.config(Config(dropout=dropout, vocab_size=corpus.tokenizer.vocab_size))
        t0 = time.perf_counter()
        loops = measure_loops(cfg, corpus, segment * min_rounds, device, MODES, rounds=min_rounds, threads=threads,
                              max_rounds=max_rounds, budget_seconds=budget)
        gflop = size.train_gflops(cfg.vocab_size)
        rows = {}
        for lp in loops:
            rows[lp.loop] = {"steps_per_second": lp.steps_per_second, "rates": lp.rates, "ratios": lp.ratios,
                             "interval": lp.interval, "compile_seconds": lp.compile_seconds, "rounds": lp.rounds,
                             "segment_steps": lp.segment_steps, "flags": lp.flags, "reasons": lp.reasons,
                             "error": lp.error, "gflops_per_second": lp.steps_per_second * gflop,
                             "peak_share": lp.steps_per_second * gflop / peak["peak"]}
        out["rungs"][name] = {"size": dims, "dropout": dropout, "gflop_per_step": gflop, "loops": rows,
                              "paired": paired(rows), "load_average": loops[0].load_average,
                              "cpu_wait": loops[0].cpu_wait, "seconds": time.perf_counter() - t0}
        fast = rows["flax scan"]
        print(f"  threads {threads}, {name}: " + ", ".join(
            f"{LABELS[k]} {v['steps_per_second']:.1f}" for k, v in rows.items() if not v["error"])
            + f" steps/s; Flax fast {fast['gflops_per_second']:.1f} GFLOP/s = {fast['peak_share']:.0%} of peak",
            file=sys.stderr, flush=True)
    return out


def paired(rows: dict) -> dict:
    """Paired ratios between modes, round by round (every loop ran one segment in each round): Flax fast over
    torch.compile, Flax fast over Flax jax.jit, torch.compile over eager; each median with its 95 % interval."""
    import numpy as np
    from learngpt_lab import stats
    out = {}
    for a, b in (("flax scan", "torch.compile loop"), ("flax scan", "flax lesson scan"),
                 ("flax scan", "torch loop"), ("flax lesson scan", "torch loop"),
                 ("torch.compile loop", "torch loop")):
        if rows.get(a, {}).get("error") is None and rows.get(b, {}).get("error") is None and a in rows and b in rows:
            ratios = list(np.divide(rows[a]["rates"], rows[b]["rates"]))
            lo, hi = stats.median_interval(ratios)
            out[f"{a} / {b}"] = {"median": float(np.median(ratios)), "interval": [lo, hi], "rounds": len(ratios)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rungs", default=",".join(RUNGS), help=f"comma-separated subset (default {','.join(RUNGS)})")
    parser.add_argument("--threads", default=None,
                        help="comma-separated thread counts (default: 1 and every usable core)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="steps per segment, times each rung's own (default 1.0; below 1 for a smoke run)")
    parser.add_argument("--min-rounds", type=int, default=6, help="rounds at least per rung (default 6)")
    parser.add_argument("--max-rounds", type=int, default=30, help="rounds at most per rung (default 30)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds of rounds per rung after the first min-rounds (default 120)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "results" / "ladder.json"),
                        help="the results file (default docs/results/ladder.json)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)  # one thread count, here
    parser.add_argument("--label", default=None, help="a note on the conditions, kept in the file (default none)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="cpu (default), or gpu: both frameworks on an NVIDIA GPU, TF32 off, one thread count")
    args = parser.parse_args(argv)
    rungs = [r.strip() for r in args.rungs.split(",") if r.strip()]
    bad = [r for r in rungs if r not in RUNGS]
    if bad or not rungs:
        parser.error(f"unknown rungs {bad or args.rungs!r}; expected a subset of {','.join(RUNGS)}")
    if args.child is not None:
        got = measure(args.child, rungs, args.scale, args.budget, args.max_rounds, args.min_rounds, args.device)
        Path(args.out).write_text(json.dumps(got))
        return 0
    from learngpt_lab import files, stats
    from learngpt.errors import UserError
    cores = stats.usable_cores()
    counts = ([1] if args.device == "gpu" else sorted({1, cores})) if args.threads is None else [
        int(t) for t in args.threads.split(",")]
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    t0 = time.perf_counter()
    per_threads = []
    for threads in counts:
        with tempfile.TemporaryDirectory() as tmp:
            part = Path(tmp) / "part.json"
            cmd = [sys.executable, __file__, "--child", str(threads), "--rungs", ",".join(rungs), "--scale",
                   str(args.scale), "--budget", str(args.budget), "--max-rounds", str(args.max_rounds),
                   "--min-rounds", str(args.min_rounds), "--device", args.device, "--out", str(part)]
            if subprocess.run(cmd, env=thread_env(threads)).returncode != 0:
                raise UserError(f"the ladder's child with {threads} threads failed (its error is above)")
            per_threads.append(json.loads(part.read_text()))
    from learngpt_lab.bench.runners import describe_machine, setup_device
    result = {"schema": "learngpt-ladder/1", "created": started, "label": args.label,
              "command": "python tools/ladder.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": {k: v for k, v in describe_machine(setup_device(args.device)).items()
                          if k in ("cpu_model", "cpus_usable", "platform", "versions", "load_average_at_start",
                                   "device", "gpu_name")},
              "settings": {"rungs": rungs, "threads": counts, "scale": args.scale, "min_rounds": args.min_rounds,
                           "max_rounds": args.max_rounds, "budget_seconds": args.budget,
                           "interval_limit": stats.INTERVAL_LIMIT, "modes": list(MODES)},
              "runs": per_threads, "wall_seconds": time.perf_counter() - t0}
    from learngpt_lab.bench.report import clean
    files.write_text(Path(args.out), json.dumps(clean(result), indent=1) + "\n")
    print(f"wrote {args.out} in {result['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

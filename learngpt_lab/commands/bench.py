"""`learngpt bench`: torch eager, torch.compile, jax.jit and JAX without jit (linen), nnx.jit and NNX without jit, side
by side (learngpt_lab/bench/)."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

from learngpt_lab.runs import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="a reduced run (torch.compile, JAX and NNX without jit on NanoGPT's forward only, a "
                             "2-point forward sweep, the training loops torch eager, torch.compile, and the lesson's "
                             "trainer and the fast one in linen and in NNX, rounds added until the headline ratios "
                             "are narrow; the run's seconds are in its JSON) (default: the full run)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="cpu (default), or gpu: an NVIDIA GPU through torch CUDA and jax[cuda12]; "
                             "TF32 is off in both frameworks")
    parser.add_argument("--out", default="bench-out",
                        help="folder for bench-<device>.json and bench-<device>.png, written together with "
                             "bench-<device>.manifest.json (default: bench-out)")
    parser.add_argument("--impls", default=None,
                        help="comma-separated subset of torch,torch.compile,jax.jit,jax,nnx.jit,nnx (default: all)")
    parser.add_argument("--components", default=None,
                        help="comma-separated subset of HeadVer4,MultiHeadVer1,MultiHeadVer2,FeedForward,"
                             "BlockVer4,NanoGPT (default: all)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the NanoGPT size sweep (default: run it)")
    parser.add_argument("--loops", default=None,
                        help="comma-separated subset of the training loops by the names the table prints ('torch "
                             "loop,flax scan,nnx scan'), the torch loop among them: every loop's ratio is to it "
                             "(default: all; quick: all but the per-step ones)")
    parser.add_argument("--loop-steps", type=int, default=None,
                        help="steps of each training loop's first rounds, more rounds added while a ratio is wide "
                             "(0 skips them; default 2000, quick 240)")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="CPU threads for each framework (torch.set_num_threads; XLA's intra-op pool), the "
                             "process pinned to that many cores on a CPU; default 1, as compare: at these sizes one thread is fastest, and with more, "
                             "another process on a core makes torch's threads wait on each other")
    parser.add_argument("--label", default=None,
                        help="a note on the conditions, kept in the JSON (e.g. 'idle', 'under a CPU hog'; default none)")
    parser.add_argument("--data", default=None, help="tiny-shakespeare for the training loops (default: as `train`)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (default: a bar)")


def _subset(value: str | None, allowed: tuple[str, ...], what: str) -> tuple[str, ...] | None:
    from learngpt.errors import UserError
    if value is None:
        return None
    chosen = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in chosen if v not in allowed]
    if bad or not chosen:
        raise UserError(f"unknown {what} {', '.join(bad) or repr(value)}; expected a subset of {','.join(allowed)}")
    return chosen


def run(args: argparse.Namespace) -> int:
    from learngpt.errors import UserError
    from learngpt_lab.threads import pin, set_threads
    t_start = time.perf_counter()
    if args.loop_steps is not None and args.loop_steps < 0:
        raise UserError(f"--loop-steps must be >= 0, got {args.loop_steps}")
    from learngpt_lab.bench import plan as plans  # no framework: the flags are read before anything changes

    plan = plans.QUICK if args.quick else plans.FULL
    changes = {}
    impls = _subset(args.impls, plans.IMPLS, "implementations")
    if impls:
        changes["impls"] = impls
    components = _subset(args.components, plans.COMPONENTS, "components")
    if components:
        changes["components"] = components
    loops = _subset(args.loops, plans.LOOPS, "loops")
    if loops:
        if "torch loop" not in loops:
            raise UserError("--loops must include the torch loop: every loop's ratio is to it")
        changes["loops"] = loops
    if args.no_sweep:
        changes["sweep"] = ()
    if args.loop_steps is not None:
        changes["loop_steps"] = args.loop_steps
    changes["threads"] = args.threads  # the bench's own load, for judging the load average
    plan = dataclasses.replace(plan, **changes)

    from learngpt_lab import files
    out = files.output_dir(args.out)  # before any work
    set_threads(args.threads)  # before the bench imports JAX
    if args.device == "cpu":
        pin(args.threads)  # --threads 1: one core, XLA's own pool included
    from learngpt_lab.bench import report
    from learngpt_lab.bench.run import run_bench
    from learngpt_lab.bench.runners import setup_device

    with files.RunLock(out):  # one run per folder: a second bench is refused, naming the first
        stem = f"bench-{args.device}"
        outputs = files.OutputSet(out, (stem + ".json", stem + ".png"), {"command": "bench", "device": args.device},
                                  manifest=stem + ".manifest.json", adopt=(stem + ".json", stem + ".png"))
        outputs.check()  # a folder or another command's file where a result goes: refused before the bench runs
        device = setup_device(args.device)
        corpus = None
        if plan.loop_steps > 0:
            from learngpt.data import load_corpus
            corpus = load_corpus(args.data)
        log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
        log(f"learngpt bench ({'quick' if args.quick else 'full'}) on {args.device}: "
            f"{len(plans.planned(plan))} measurements, then the training loops; results in {args.out}/")
        result = run_bench(plan, device, corpus=corpus, progress=not args.no_progress, log=log)
        result["settings"]["quick"] = bool(args.quick)
        result["settings"]["label"] = args.label
        result["settings"]["wall_seconds"] = time.perf_counter() - t_start
        with outputs:  # the JSON and the PNG appear together, or neither does
            report.write_json(result, outputs.stage(stem + ".json"))
            report.plot(result, outputs.stage(stem + ".png"))
    print(report.format_table(result))
    where = os.path.join(out, stem)
    print(f"\nwrote {where}.json and {where}.png in {result['settings']['wall_seconds']:.0f} s")
    return 0

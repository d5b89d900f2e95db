"""Where the time of the Flax fast training step goes, at a rung of the ladder (by default nanoGPT's laptop
recipe), one thread pinned to one core: XLA's own trace of the compiled scan of steps (jax.profiler, every
kernel of the program timed), each kernel classed by what XLA put in it (a matmul, a transpose, a reduction,
other elementwise work), with the floating-point work of the matmuls and the bytes the other kernels read and
write (their operands' and result's sizes), beside this core's measured matmul peak and copy bandwidth. What
the step's share of the peak can be follows from it: at a share s of the peak a step has gflop / (s * peak)
seconds, the matmuls already take theirs, and what is left must hold every other kernel.

    python tools/profile_step.py --out docs/results/flax-step-profile.json

docs/bench.md's block flax-profile:flax-step-profile is generated from that file (tools/docs.py).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TRACE_FLAG = "--xla_cpu_enable_xprof_traceme"  # XLA's CPU runtime records each kernel in jax.profiler's trace
BYTES = {"f64": 8, "s64": 8, "u64": 8, "f32": 4, "s32": 4, "u32": 4, "bf16": 2, "f16": 2, "s16": 2, "u16": 2,
         "f8e4m3fn": 1, "f8e5m2": 1, "pred": 1, "s8": 1, "u8": 1}
ARRAY = re.compile(r"\b(" + "|".join(BYTES) + r")\[([\d,]*)\]")


def array_bytes(shape: str) -> int:
    """Bytes of every array named in an HLO shape string ("f32[12,64]{1,0}", tuples too)."""
    total = 0
    for dtype, dims in ARRAY.findall(shape):
        n = 1
        for d in filter(None, dims.split(",")):
            n *= int(d)
        total += n * BYTES[dtype]
    return total


def parse(hlo: str) -> tuple[dict, dict, dict, dict]:
    """A compiled program's text -> (instruction: its shape, instruction: its opcode, fusion: (shape, called
    computation, operands), computation: its body)."""
    hlo = re.sub(r"/\*.*?\*/", "", hlo)  # XLA's comments inside long tuples (/*index=5*/)
    found = re.finditer(r"^\s+(?:ROOT )?%?([\w.\-]+) = (\([^=]*?\)|\w+\[[\d,]*\]\S*) ([\w\-]+)\(", hlo, re.M)
    shapes, opcodes = {}, {}
    for m in found:
        shapes[m[1]], opcodes[m[1]] = m[2], m[3]
    fusions = {m[1]: (m[2], m[4], [a.strip().split(" ")[-1].lstrip("%") for a in m[3].split(",") if a.strip()])
               for m in re.finditer(r"^\s+%?([\w.\-]+) = (\(.*?\)|\S+) fusion\(([^)]*)\).*?calls=%?([\w.\-]+)", hlo, re.M)}
    bodies = {m[1]: m[2] for m in re.finditer(r"^%?([\w.\-]+) \([^\n]*\{\n(.*?)^\}", hlo, re.S | re.M)}
    return shapes, opcodes, fusions, bodies


def dot_flops(body: str, shapes: dict | None = None) -> int:
    """Floating-point operations of the dots in a computation's body (or one instruction's line, its operands'
    shapes from `shapes`): 2 x output elements x contracted size."""
    local = {**(shapes or {}), **{m[1]: m[2] for m in re.finditer(r"^\s+(?:ROOT )?%?([\w.\-]+) = (\S+)", body, re.M)}}
    flops = 0
    for m in re.finditer(r"= (\w+\[[\d,]*\])\S* dot\(%?([\w.\-]+), %?[\w.\-]+\).*?lhs_contracting_dims=\{([\d,]*)\}",
                         body):
        out = [int(d) for d in filter(None, re.search(r"\[([\d,]*)\]", m[1])[1].split(","))]
        lhs = [int(d) for d in filter(None, re.search(r"\[([\d,]*)\]", local.get(m[2], "x[]"))[1].split(","))]
        k = 1
        for d in filter(None, m[3].split(",")):
            k *= lhs[int(d)]
        n = 1
        for d in out:
            n *= d
        flops += 2 * n * k
    return flops


def kind_of(body: str) -> str:
    if " dot(" in body:
        return "matmul"
    if " transpose(" in body or " copy(" in body:
        return "with a transpose, or a copy"
    if " reduce(" in body or " reduce-window(" in body:
        return "reduction"
    return "elementwise and other"


def copy_bandwidth(megabytes: float, seconds: float = 1.0) -> float:
    """GB/s read plus written by numpy's copy of a float32 array of `megabytes`, the best repeat."""
    import numpy as np
    a = np.random.default_rng(0).random(int(megabytes * 1e6 / 4), dtype=np.float32)
    b = np.empty_like(a)
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.nbytes / best / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rung", default="laptop", help="a rung of tools/ladder.py (default laptop)")
    parser.add_argument("--steps", type=int, default=10, help="steps in the traced scan (default 10)")
    parser.add_argument("--calls", type=int, default=3, help="traced calls of the scan (default 3)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "results" / "flax-step-profile.json"),
                        help="the results file (default docs/results/flax-step-profile.json)")
    args = parser.parse_args(argv)
    from tools.ladder import RUNGS, matmul_peak, thread_env
    from learngpt_lab.threads import xla_flags
    if TRACE_FLAG not in os.environ.get("XLA_FLAGS", ""):  # XLA reads its flags at start: again, with them
        env = thread_env(1)
        env["XLA_FLAGS"] = xla_flags(env["XLA_FLAGS"], TRACE_FLAG, "true")
        os.execve(sys.executable, [sys.executable, __file__] + list(sys.argv[1:] if argv is None else argv), env)
    from learngpt_lab.threads import pin, set_threads
    pin(1)
    set_threads(1)
    import jax
    import numpy as np
    from jax.profiler import ProfileData

    import learngpt_flax
    from learngpt import components
    from learngpt_lab import files, stats
    from learngpt.config import Config
    from learngpt.data import load_corpus
    from learngpt_flax import fast
    from learngpt_jax.fast import compile_program, dropout_key
    from learngpt_flax.optim import make_optimizer
    from learngpt_lab.bench.plan import Size

    dims, dropout, _ = RUNGS[args.rung]
    size = Size(*dims)
    corpus = load_corpus(None)
    cfg = size.config(Config(dropout=dropout, vocab_size=corpus.tokenizer.vocab_size))
    model = components.build(learngpt_flax, "NanoGPT", cfg)
    params = model.init(jax.random.key(cfg.seed), np.zeros((1, cfg.block_size), np.int32))["params"]
    optimizer = make_optimizer(cfg)
    rng = np.random.default_rng(cfg.seed)
    xs, ys = (rng.integers(0, cfg.vocab_size, (args.steps, cfg.batch_size, cfg.block_size)).astype(np.int32)
              for _ in "xy")
    state = (params, optimizer.init(params), dropout_key(cfg.seed))
    step = fast.make_step(model, optimizer)
    loop = jax.jit(lambda s, xs, ys: jax.lax.scan(step, s, (xs, ys)))  # the lesson trainer's loop over a chunk
    program = compile_program(loop.lower(state, xs, ys), "cpu")
    hlo = program.as_text()

    def call():
        jax.block_until_ready(program(state, xs, ys))
    call()
    untraced = []
    for _ in range(5):
        t0 = time.perf_counter()
        call()
        untraced.append((time.perf_counter() - t0) / args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp):
            for _ in range(args.calls):
                call()
        trace = ProfileData.from_file(str(next(Path(tmp).rglob("*.xplane.pb"))))
        per_kernel = collections.Counter()
        for plane in trace.planes:
            for line in plane.lines:
                if "XLAEigen" not in line.name:  # XLA's CPU kernels run on its Eigen pool's threads
                    continue
                for event in line.events:
                    per_kernel[event.name] += event.duration_ns
    shapes, opcodes, fusions, bodies = parse(hlo)
    steps = args.steps * args.calls
    kinds: dict = {}
    for name, ns in per_kernel.items():
        if name not in fusions and name not in shapes:
            continue  # the runtime's own events (the loop, its thunks), not a kernel of the program
        shape, called, operands = fusions.get(name, (shapes.get(name, ""), None, []))
        body = bodies.get(called, "") if called else ""
        if not called:  # an instruction of its own, not a fusion: classed by its opcode, read as its own body
            body = f" {opcodes.get(name)}("
            body = next((line for line in hlo.splitlines() if re.match(rf"\s+(ROOT )?%?{re.escape(name)} = ", line)),
                        body)
        kind = kind_of(body)
        k = kinds.setdefault(kind, {"ms_per_step": 0.0, "kernels_per_step": 0, "gflop_per_step": 0.0,
                                    "mb_per_step": 0.0})
        k["ms_per_step"] += ns / 1e6 / steps
        k["kernels_per_step"] += 1
        k["gflop_per_step"] += dot_flops(body, shapes) / 1e9
        if not called:
            found = re.search(r" [\w\-]+\(([^)]*)\)", body)
            operands = [a.strip().split(" ")[-1].lstrip("%") for a in found[1].split(",")] if found else []
        moved = array_bytes(shape) + sum(array_bytes(shapes.get(o, "")) for o in operands)
        k["mb_per_step"] += moved / 1e6
    peak = matmul_peak()
    bandwidth = {f"{mb:g} MB": copy_bandwidth(mb) for mb in (0.4, 0.8, 1.5)}  # the step's arrays: (BT, C), scores, (BT, 4C)
    gflop = size.train_gflops(cfg.vocab_size)
    result = {"schema": "learngpt-flax-step-profile/1", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": " ".join(["python tools/profile_step.py", *(sys.argv[1:] if argv is None else argv)]),
              "rung": args.rung, "size": dims, "dropout": dropout, "gflop_per_step": gflop, "threads": 1,
              "step_ms_untraced": float(np.median(untraced)) * 1e3,
              "step_ms_traced": sum(k["ms_per_step"] for k in kinds.values()), "kinds": kinds, "matmul": peak,
              "copy_gb_per_s": bandwidth, "machine": stats.machine()}
    files.write_text(Path(args.out), json.dumps(result, indent=1) + "\n")
    for kind, k in sorted(kinds.items(), key=lambda kv: -kv[1]["ms_per_step"]):
        print(f"{kind}: {k['ms_per_step']:.2f} ms a step in {k['kernels_per_step']} kernels, "
              f"{k['gflop_per_step']:.2f} GFLOP, {k['mb_per_step']:.0f} MB", file=sys.stderr)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

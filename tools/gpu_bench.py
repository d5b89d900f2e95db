"""The GPU fairness matrix: NanoGPT's training loop at every rung of the size ladder and at nanoGPT's
shakespeare-char GPU recipe, in every mode of both frameworks, in float32 with TF32 off and on and in bfloat16,
paired, against the GPU's measured matmul peak.

    python tools/gpu_bench.py --out gpu-out/gpu-bench.json                  # on a machine with an NVIDIA GPU
    python tools/gpu_bench.py --device cpu --rungs curriculum --modes "torch eager,jax.jit" --out /tmp/m.json

Modes (MODES): torch eager; torch.compile (mode "default"); torch.compile mode "reduce-overhead" (CUDA graphs);
jax.jit (the linen lesson's trainer, learngpt_flax/trainer.py); the Flax fast path (learngpt_flax/fast.py).
Precisions (PRECISIONS), the same setting in both frameworks:
- fp32: float32, TF32 off (torch.backends.cuda.matmul.allow_tf32 = False; jax.default_matmul_precision 'highest');
- tf32: float32, TF32 on (allow_tf32 = True; jax.default_matmul_precision 'tensorfloat32');
- bf16: float32 parameters and optimizer, the model computed in bfloat16 (torch.autocast(dtype=torch.bfloat16)
  around the forward pass; JAX: the parameters cast to bfloat16 inside the loss, so that their gradients come
  back in float32), TF32 on for what stays in float32 in both.

Each rung is measured as the CPU ladder is (tools/ladder.py): every arm trains on the same batch stream in
segments that take turns in rotating rounds, the first segment (compilation) apart, rounds added until each
paired ratio's 95 % interval is narrow (learngpt_lab.stats.until_narrow) or the rung's time is spent. The ratios are
paired round by round (learngpt_lab.stats.paired_figure, median_interval), never ratios of medians.

Time is capped: the run has a deadline and each rung a share of it (gpu_run.py's plan). An arm whose warm-up
would not fit what is left of its rung is skipped and says so; a warm-up that outruns its own cap is stopped
(SIGALRM) and recorded as such; the raw times are written after every round, so a run stopped from outside
still leaves every round it finished (summarise() makes the same figures from them).
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path += [] if str(ROOT) in sys.path else [str(ROOT)]  # the checkout, when run as a script

from tools.ladder import RUNGS as CPU_RUNGS  # noqa: E402  the CPU ladder's rungs, one definition

SCHEMA = "learngpt-gpu-bench/1"
MODES = ("torch eager", "torch.compile", "torch.compile reduce-overhead", "jax.jit", "Flax fast")
PRECISIONS = ("fp32", "tf32", "bf16")
PRECISION_TEXT = {
    "fp32": "float32, TF32 off in both (torch allow_tf32 False, JAX matmul precision 'highest')",
    "tf32": "float32, TF32 on in both (torch allow_tf32 True, JAX matmul precision 'tensorfloat32')",
    "bf16": "bfloat16 compute, float32 parameters and AdamW (torch.autocast bf16; JAX parameters cast to bf16 in "
            "the loss), TF32 on for the float32 rest in both"}
JAX_PRECISION = {"fp32": "highest", "tf32": "tensorfloat32", "bf16": "tensorfloat32"}
REFERENCE = ("torch eager", "fp32")
# nanoGPT's config/train_shakespeare_char.py: batch 64, block 256, 6 layers, 6 heads, 384 wide, dropout 0.2
GPU_RUNG = ((64, 256, 384, 6, 6), 0.2)
RUNGS = {**{name: (dims, dropout) for name, (dims, dropout, _) in CPU_RUNGS.items()}, "gpu": GPU_RUNG}
ORDER = ("gpu", "curriculum", "middle", "laptop", "wide")  # the order they are measured: the GPU rung first
# steps per segment: about 0.3-0.5 s of torch eager in float32 on an H100 (a guess until a run records it)
SEGMENT = {"curriculum": 100, "middle": 100, "laptop": 80, "wide": 60, "gpu": 10}
MIN_ROUNDS, MAX_ROUNDS = 6, 30
# the seconds of one arm's warm-up (the first segment, compilation included) the plan allots, by mode; an arm
# is stopped at WARMUP_CAP times this
WARMUP_ESTIMATE = {"torch eager": 1.0, "torch.compile": 20.0, "torch.compile reduce-overhead": 10.0,
                   "jax.jit": 6.0, "Flax fast": 6.0}
WARMUP_CAP = 4.0
PEAK_SIZE = {"gpu": 8192, "cpu": 512}  # square matmul for the peak: 1.1 TFLOP on the GPU


def arm_name(mode: str, precision: str) -> str:
    return f"{mode} | {precision}"


def arms_of(precisions: tuple[str, ...], modes: tuple[str, ...] = MODES) -> list[tuple[str, str]]:
    """The arms of one rung in the order they are built and warmed: mode by mode, each in every precision, from
    the cheapest warm-up to the dearest (torch eager, the reference, first; then JAX's; torch.compile's last): a
    rung cut short loses its dearest mode's arms, and every mode it keeps is there in every precision."""
    order = [m for m in ("torch eager", "Flax fast", "jax.jit", "torch.compile", "torch.compile reduce-overhead")
             if m in modes]
    return [(m, p) for m in order for p in precisions]


# The measuring side: runs in the process that holds the GPU.

class ArmTimeout(Exception):
    """A warm-up ran past its cap."""


@contextlib.contextmanager
def alarm(seconds: float):
    """Raise ArmTimeout in this (main) thread after `seconds`: a compilation in Python stops there; one inside
    XLA's C++ stops when it returns."""
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        yield
        return

    def fire(*_):
        raise ArmTimeout(f"warm-up stopped at its cap of {seconds:.0f} s")
    before = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


@contextlib.contextmanager
def torch_precision(precision: str):
    """TF32 for torch's float32 matmuls (and cuDNN) on in tf32 and bf16, off in fp32; put back afterwards."""
    import torch
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision != "fp32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class Compute:
    """A linen model as the Flax trainers take it (apply, vocab_size), in one precision: bf16 casts the float32
    parameters to bfloat16 inside apply (their gradients return in float32); the precision is in its repr, which
    learngpt_flax/fast.py keys its compiled programs by (the matmul precision is not in that key)."""

    def __init__(self, model, precision: str):
        self.model, self.precision, self.vocab_size = model, precision, model.vocab_size

    def apply(self, variables, *args, **kwargs):
        if self.precision == "bf16":
            import jax
            import jax.numpy as jnp
            variables = jax.tree_util.tree_map(
                lambda a: a.astype(jnp.bfloat16) if jnp.issubdtype(a.dtype, jnp.floating) else a, variables)
        return self.model.apply(variables, *args, **kwargs)

    def __repr__(self) -> str:
        return f"Compute[{self.precision}]({self.model!r})"


def precision_settings(precision: str) -> dict:
    """What each framework reports under this precision's settings: the record that both ran alike."""
    out = {}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        with torch_precision(precision):
            out["torch_float32_matmul_precision"] = torch.get_float32_matmul_precision()
            out["torch_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
    if "jax" in sys.modules:
        jax = sys.modules["jax"]
        with jax.default_matmul_precision(JAX_PRECISION[precision]):
            out["jax_default_matmul_precision"] = jax.config.jax_default_matmul_precision
    out["compute"] = "bfloat16" if precision == "bf16" else "float32"
    return out


def torch_arm(mode: str, precision: str, cfg, corpus, segment: int, device):
    """One segment of torch training per call (learngpt_torch.trainer.loop, its step in this mode and precision);
    returns the History."""
    import torch
    import learngpt_torch
    from learngpt import components
    from learngpt.data import BatchSampler
    from learngpt.training import eval_data
    from learngpt_torch import trainer
    from learngpt_torch.optim import make_optimizer

    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
    evals = eval_data(sampler, cfg, 1)
    torch.manual_seed(cfg.seed)
    model = components.build(learngpt_torch, "NanoGPT", cfg).to(device.torch_device)
    net = model if mode == "torch eager" else torch.compile(
        model, mode="reduce-overhead" if mode == "torch.compile reduce-overhead" else "default")
    graphs = mode == "torch.compile reduce-overhead"
    kind = device.torch_device.type

    def make_step(_, optimizer):
        """trainer.make_step's step, the forward pass under autocast in bf16; the loss copied out (a CUDA graph
        overwrites its outputs at the next replay)."""
        def step(x, y):
            if graphs:
                torch.compiler.cudagraph_mark_step_begin()
            with torch.autocast(kind, dtype=torch.bfloat16, enabled=precision == "bf16"):
                _, loss = net(x, y)  # (B, T), (B, T) -> ()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss.detach().clone()
        return step

    def segment_call():
        with torch_precision(precision):
            step = make_step(model, make_optimizer(model, cfg))  # a fresh optimizer per segment, as train gives
            return trainer.loop(model, step, cfg, sampler, evals, segment, segment, False, "torch")
    return segment_call


def jax_arm(mode: str, precision: str, cfg, corpus, segment: int, device):
    """One segment of Flax training per call: the lesson's trainer under jax.jit or
    learngpt_flax.fast; returns the History."""
    import jax
    import numpy as np
    import learngpt_flax
    from learngpt import components
    from learngpt.data import BatchSampler
    from learngpt.training import eval_data
    from learngpt_flax import fast, trainer

    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
    evals = eval_data(sampler, cfg, 1)
    linen = components.build(learngpt_flax, "NanoGPT", cfg)
    box = [jax.device_put(linen.init(jax.random.key(cfg.seed), np.zeros((1, cfg.block_size), np.int32))["params"],
                          device.jax_device)]
    model = Compute(linen, precision)

    def segment_call():
        with jax.default_matmul_precision(JAX_PRECISION[precision]):
            if mode == "jax.jit":
                box[0], h = trainer.train(model, box[0], cfg, sampler, evals, max_iters=segment,
                                          eval_interval=segment)
            else:
                box[0], h = fast.train(model, box[0], cfg, sampler, evals, max_iters=segment, eval_interval=segment)
        return h
    return segment_call


def matmul_peak(kind: str, seconds: float = 0.6) -> dict:
    """GFLOP/s of an n x n matmul in each precision and framework (the best of repeats over about `seconds`
    each); the peak of a precision is the better framework's."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch
    n = PEAK_SIZE[kind]
    tdev = torch.device("cuda" if kind == "gpu" else "cpu")
    sync = torch.cuda.synchronize if kind == "gpu" else (lambda: None)
    rng = np.random.default_rng(0)
    host = [rng.standard_normal((n, n)).astype(np.float32) for _ in "ab"]
    out: dict = {}
    for precision in PRECISIONS:
        dtype = "bfloat16" if precision == "bf16" else "float32"
        ta, tb = (torch.as_tensor(h, device=tdev).to(getattr(torch, dtype)) for h in host)
        ja, jb = (jnp.asarray(h, dtype=dtype) for h in host)
        with jax.default_matmul_precision(JAX_PRECISION[precision]):
            mm = jax.jit(jnp.matmul).lower(ja, jb).compile()

        def run_torch():
            with torch_precision(precision):
                ta @ tb
                sync()

        def best(call):
            call()
            fastest, end = float("inf"), time.perf_counter() + seconds
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                call()
                fastest = min(fastest, time.perf_counter() - t0)
            return 2 * n ** 3 / fastest / 1e9
        row = {"torch": best(run_torch), "jax": best(lambda: mm(ja, jb).block_until_ready())}
        out[precision] = {**row, "peak": max(row.values()), "dtype": dtype}
        del ta, tb, ja, jb, mm
    return {"n": n, "gflops": out}


def write_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def measure_rung(name: str, precisions: tuple[str, ...], modes: tuple[str, ...], seconds: float, device, corpus,
                 record, scale: float = 1.0, warmup_cap: float = WARMUP_CAP) -> dict:
    """One rung: every arm built and warmed (each within its cap and what is left of the rung), then paired
    rounds until the intervals are narrow or the rung's time is spent. record(raw) is called after each phase."""
    from learngpt_lab import stats
    from learngpt.config import Config
    from learngpt_lab.bench.plan import Size

    t_start = time.perf_counter()
    end = t_start + seconds
    dims, dropout = RUNGS[name]
    size = Size(*dims)
    segment = max(1, round(SEGMENT[name] * scale))
    cfg = size.config(Config(dropout=dropout, vocab_size=corpus.tokenizer.vocab_size))
    raw = {"size": list(dims), "dropout": dropout, "segment_steps": segment, "seconds_allotted": seconds,
           "gflop_per_step": size.train_gflops(cfg.vocab_size), "arms": {}, "times": {}, "rounds": 0}
    live = {}
    planned = arms_of(precisions, modes)
    # kept for the rounds: half of what the plan leaves after the warm-ups (a missing arm costs more than a wider
    # interval), at least 3 s (or 30 % of a shorter rung)
    round_reserve = max(min(3.0, 0.3 * seconds), 0.5 * (seconds - sum(WARMUP_ESTIMATE[m] for m, _ in planned)))
    for mode, precision in planned:
        arm = raw["arms"].setdefault(arm_name(mode, precision), {"mode": mode, "precision": precision})
        left = end - round_reserve - time.perf_counter()
        if WARMUP_ESTIMATE[mode] > left:
            arm["skipped"] = f"not started: its warm-up ({WARMUP_ESTIMATE[mode]:.0f} s planned) did not fit the " \
                             f"{max(left, 0):.0f} s left of the rung's warm-ups"
            continue
        t0 = time.perf_counter()
        try:
            with alarm(min(warmup_cap * WARMUP_ESTIMATE[mode], left)):
                build = torch_arm if mode.startswith("torch") else jax_arm
                call = build(mode, precision, cfg, corpus, segment, device)
                history = call()  # the warm-up segment: compilation and first calls
            # JAX compiles ahead of time (compile_seconds); torch.compile in the first step, inside the segment
            arm["compile_seconds"], arm["first_segment_seconds"] = history.compile_seconds, history.train_seconds
            live[arm_name(mode, precision)] = call
        except Exception as err:  # one arm failing (or over its cap) must not lose the rung
            arm["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
        arm["warmup_seconds"] = time.perf_counter() - t0
        record(raw)
    names = list(live)
    raw["settings"] = {p: precision_settings(p) for p in precisions}

    class OutOfTime(Exception):
        pass

    def one_round(r: int) -> dict:
        if r and time.perf_counter() >= end:
            raise OutOfTime
        got = {}
        for i in stats.rotation(len(names), r):
            try:
                h = live[names[i]]()
            except Exception as err:  # the rounds end here (pairing needs every arm in every round); kept so far
                raw["arms"][names[i]]["error"] = f"round {r + 1}: {type(err).__name__}: {str(err)[:200]}"
                raise
            got[names[i]] = h.train_seconds / h.steps
        for n, t in got.items():
            raw["times"].setdefault(n, []).append(t)
        raw["rounds"] = r + 1
        record(raw)
        return got

    ref = arm_name(*REFERENCE)
    if names:
        try:
            _, load, _ = stats.until_narrow(one_round, ref if ref in names else names[0], 1, None,
                                            stats.INTERVAL_LIMIT, MIN_ROUNDS, MAX_ROUNDS,
                                            max(0.0, end - time.perf_counter()))
            raw["load_average"], raw["cpu_wait"] = load.load_average, load.cpu_wait
        except OutOfTime:
            raw["stopped"] = f"the rung's {seconds:.0f} s were spent after {raw['rounds']} rounds"
        except Exception as err:  # a failure mid-way: the rounds finished so far stay
            raw["stopped"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
    raw["seconds"] = time.perf_counter() - t_start
    record(raw)
    live.clear()  # the next rung starts with this one's models, programs and CUDA graphs gone
    gc.collect()
    if "torch._dynamo" in sys.modules:
        sys.modules["torch._dynamo"].reset()
    if device.kind == "gpu":
        sys.modules["torch"].cuda.empty_cache()
    if "jax" in sys.modules:
        sys.modules["jax"].clear_caches()
    return raw


def child(args) -> int:
    """Measure here: the peak, then each rung within its seconds; the raw result rewritten as it grows."""
    from learngpt.data import load_corpus
    from learngpt_lab.bench.runners import describe_machine, setup_device
    from learngpt_lab.threads import set_threads
    set_threads(1)
    device = setup_device(args.device)  # TF32 off in both until an arm says otherwise; JAX's default device
    import torch
    for limit in ("cache_size_limit", "recompile_limit"):  # one compiled graph per arm, all alive at once
        if hasattr(torch._dynamo.config, limit):
            setattr(torch._dynamo.config, limit, 64)
    out = raw_path(Path(args.out))
    raw = {"schema": SCHEMA + "-raw", "device": args.device, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "machine": describe_machine(device), "rungs": {}}
    record = lambda: write_atomic(out, raw)  # noqa: E731
    if args.peak:
        t0 = time.perf_counter()
        raw["peak"] = matmul_peak(args.device)
        raw["peak"]["seconds"] = time.perf_counter() - t0
        record()
        print("peak GFLOP/s: " + ", ".join(f"{p} {v['peak']:.0f}" for p, v in raw["peak"]["gflops"].items()),
              file=sys.stderr, flush=True)
    corpus = load_corpus(None)
    modes = tuple(args.modes.split(",")) if args.modes else MODES
    carry = 0.0  # seconds a rung left unused go to the next
    for spec in filter(None, args.rungs.split(",")):
        name, seconds, precisions = spec.split(":")
        seconds = float(seconds) + carry
        if args.deadline is not None:  # the part's own end: the last rungs shrink when the first ran long
            seconds = min(seconds, args.deadline - time.time() - 2.0)
        if seconds < 3.0:
            raw["rungs"][name] = {"skipped": "no time left in the matrix's seconds", "arms": {}, "times": {}}
            record()
            continue
        print(f"rung {name}: {precisions.replace('+', ', ')}, {seconds:.0f} s", file=sys.stderr, flush=True)

        def record_rung(r, name=name):
            raw["rungs"][name] = r
            record()
        r = measure_rung(name, tuple(precisions.split("+")), modes, seconds, device, corpus, record_rung,
                         args.scale, args.warmup_cap)
        carry = max(0.0, seconds - r["seconds"])
        done = {k: len(v) for k, v in r["times"].items()}
        print(f"  {name}: {r['rounds']} rounds in {r['seconds']:.0f} s; "
              + "; ".join(f"{k}: {a.get('error') or a.get('skipped') or f'{done.get(k, 0)} segments'}"
                          for k, a in r["arms"].items()), file=sys.stderr, flush=True)
    Path(args.out).write_text(json.dumps(summarise(raw), indent=1) + "\n")
    return 0


def raw_path(out: Path) -> Path:
    """Where the raw times of the result file `out` are kept as they grow: NAME.raw.json beside it."""
    return out.with_name(out.name.removesuffix(".json") + ".raw.json")


# The figures: computed from the raw times alone, here or wherever a stopped run's file is read.

def summarise(raw: dict) -> dict:
    """The result file's figures from the raw times: each arm's steps/s, its paired ratio to torch eager in
    fp32 with the 95 % interval, GFLOP/s and its share of the peak of its own precision, compile time; the
    fairness pairs, paired round by round."""
    import numpy as np
    from learngpt_lab import stats
    peak = (raw.get("peak") or {}).get("gflops", {})
    rungs = {}
    for name, r in raw.get("rungs", {}).items():
        if "size" not in r:  # a rung the matrix had no time left for
            rungs[name] = {"skipped": r.get("skipped"), "arms": {}, "pairs": {}}
            continue
        times, ref = r.get("times", {}), arm_name(*REFERENCE)
        arms = {}
        for key, a in r["arms"].items():
            t = times.get(key, [])
            row = {"mode": a["mode"], "precision": a["precision"], "error": a.get("error"),
                   "skipped": a.get("skipped"), "compile_seconds": a.get("compile_seconds"),
                   "warmup_seconds": a.get("warmup_seconds"), "rounds": len(t), "times": t}
            if t:
                rates = [1.0 / v for v in t]
                sps = float(np.median(rates))
                if a.get("first_segment_seconds") is not None:  # the first segment's time beyond a steady one's
                    row["compile_seconds"] = (a.get("compile_seconds") or 0.0) + max(
                        0.0, a["first_segment_seconds"] - r["segment_steps"] / sps)
                gflops = sps * r["gflop_per_step"]
                top = peak.get(a["precision"], {}).get("peak")
                row |= {"steps_per_second": sps, "gflops_per_second": gflops,
                        "peak_share": gflops / top if top else None}
                if key != ref and times.get(ref):
                    n = min(len(t), len(times[ref]))
                    fig = stats.paired_figure(t[:n], times[ref][:n]) if n else None
                    if fig:
                        row |= {"vs_reference": fig["median"], "interval": fig["interval"], "flags": fig["flags"],
                                "reasons": fig["reasons"]}
            arms[key] = row
        rungs[name] = {k: v for k, v in r.items() if k not in ("arms", "times")} | {
            "arms": arms, "pairs": pairs(times)}
    return {"schema": SCHEMA, "created": raw.get("created"), "device": raw.get("device"),
            "machine": raw.get("machine"), "peak": raw.get("peak"), "reference": arm_name(*REFERENCE),
            "precisions": PRECISION_TEXT, "rungs": rungs,
            "interval_limit": stats.INTERVAL_LIMIT,
            "method": "arms take turns segment by segment in rotating rounds (the first segment, compilation "
                      "included, apart); each ratio is the median of per-round ratios with its 95 % "
                      "distribution-free interval (learngpt_lab/stats.py); rounds are added until every interval spans "
                      "at most interval_limit of its median or the rung's time is spent"}


def fairness_pairs() -> list[tuple[str, str]]:
    """(a, b): a's speed over b's, paired. Within a precision: each compiler against torch.compile, CUDA graphs
    against plain torch.compile; within a mode: TF32 and bf16 against fp32."""
    out = []
    for p in PRECISIONS:
        out += [(arm_name("Flax fast", p), arm_name("torch.compile", p)),
                (arm_name("Flax fast", p), arm_name("torch.compile reduce-overhead", p)),
                (arm_name("jax.jit", p), arm_name("torch.compile", p)),
                (arm_name("torch.compile reduce-overhead", p), arm_name("torch.compile", p)),
                (arm_name("torch.compile", p), arm_name("torch eager", p))]
    for m in MODES:
        out += [(arm_name(m, "tf32"), arm_name(m, "fp32")), (arm_name(m, "bf16"), arm_name(m, "fp32"))]
    return out


def pairs(times: dict) -> dict:
    from learngpt_lab import stats
    out = {}
    for a, b in fairness_pairs():
        n = min(len(times.get(a, [])), len(times.get(b, [])))
        if n:
            fig = stats.paired_figure(times[a][:n], times[b][:n])
            out[f"{a} / {b}"] = {"median": fig["median"], "interval": fig["interval"], "rounds": n,
                                 "flags": fig["flags"]}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python tools/gpu_bench.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the raw JSON file (rewritten after every round)")
    p.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    p.add_argument("--rungs", default=None,
                   help="NAME:SECONDS:PRECISIONS,... (precisions joined by +); default: tools/gpu_run.py's plan")
    p.add_argument("--modes", default=None, help=f"comma-separated subset of {', '.join(MODES)}")
    p.add_argument("--no-peak", dest="peak", action="store_false", help="skip the matmul peak")
    p.add_argument("--scale", type=float, default=1.0, help="steps per segment times this (below 1: a smoke run)")
    p.add_argument("--deadline", type=float, default=None,
                   help="seconds since the epoch by which every rung has ended (tools/gpu_run.py gives it)")
    p.add_argument("--warmup-cap", type=float, default=WARMUP_CAP,
                   help=f"an arm's warm-up is stopped at this many times its planned seconds (default {WARMUP_CAP:g})")
    args = p.parse_args(argv)
    if args.rungs is None:
        from tools.gpu_run import plan
        args.rungs = ",".join(f"{r['rung']}:{r['seconds']:g}:{'+'.join(r['precisions'])}"
                              for r in plan()["matrix"])
    bad = [m for m in (args.modes or "").split(",") if m and m not in MODES]
    if bad:
        p.error(f"unknown modes {bad}; expected a subset of {', '.join(MODES)}")
    return child(args)


if __name__ == "__main__":
    sys.exit(main())

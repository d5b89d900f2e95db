"""What was tried to bring the Flax fast step closer to the machine's matmul peak at a rung of the ladder (by
default nanoGPT's laptop recipe), measured paired: each variant is the scan-fused training step of
learngpt_flax.fast (the same maths) with fewer of its interceptors, YNNPACK's fusions forced off or on, or q/k/v
as one matmul; the variants train
segments of the same batch stream in rotating rounds (learngpt_lab.stats.until_narrow) and each is reported as the
median of its per-round speed ratios to the first (learngpt_flax/fast.py's step),
with its 95 % interval, its steps/s and GFLOP/s against the matmul peak measured in the same process (tools/ladder.py, matmul_peak).

    python experiments/flax_fast_attempts.py --rung laptop --out docs/results/flax-fast-attempts.json

docs/bench.md's table "Faster where the compute is" is generated from that file (tools/docs.py,
flax-attempts:flax-fast-attempts).
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

YNN_OFF = {"xla_cpu_experimental_ynn_fusion_type": ""}  # learngpt_flax.fast.COMPILER_OPTIONS["cpu"]
BOTH = ("store_norm_grads", "dense_grads")  # learngpt_flax.fast.INTERCEPTORS, by name
VARIANTS = {  # name -> (XLA compile options, None: fast.compile_program's; fast's interceptors applied; q/k/v fused)
    "fast.py's step (LayerNorm gradients stored, Dense gradients by fast.dense, YNNPACK by program size)":
        (None, BOTH, False),
    "Dense weight gradients as autodiff's dots (fast.py's step before dense_grads)": (None, ("store_norm_grads",), False),
    "Dense weight gradients always as (x^T) @ g (not ((g^T) @ x)^T where g is smaller than x)":
        (None, ("store_norm_grads", "x_transposed_grads"), False),
    "YNNPACK fusions off": (YNN_OFF, BOTH, False),
    "YNNPACK fusions on (XLA's default)": ({}, BOTH, False),
    "LayerNorm gradients not stored": (None, ("dense_grads",), False),
    "q, k and v as one (C, 3C) matmul (its weight gradient autodiff's dot)": (None, BOTH, True),
}


@functools.cache
def _x_transposed_dense():
    """fast.dense with its kernel gradient always (x^T) @ g, x^T made first."""
    import jax

    @jax.custom_vjp
    def dense(x, kernel, bias):
        y = jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))
        return y if bias is None else y + bias

    def bwd(res, g):
        x, kernel, no_bias = res
        rows, g_rows = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
        dx = jax.lax.dot_general(g, kernel, (((g.ndim - 1,), (1,)), ((), ())))
        return dx, jax.lax.optimization_barrier(rows.T) @ g_rows, None if no_bias else g_rows.sum(0)
    dense.defvjp(lambda x, kernel, bias: (dense(x, kernel, bias), (x, kernel, bias is None)), bwd)
    return dense


def x_transposed_grads(next_fun, args, kwargs, context):
    """fast.dense_grads with every kernel gradient taken as (x^T) @ g: learngpt_flax/fast.py's dense before
    it chose the smaller of x and g to transpose."""
    from learngpt_flax import fast
    real, fast.dense = fast.dense, _x_transposed_dense()
    try:
        return fast.dense_grads(next_fun, args, kwargs, context)
    finally:
        fast.dense = real


def fused_qkv(next_fun, args, kwargs, context):
    """A flax method interceptor: MultiHeadVer2's query, key and value maps computed as one x @ [Wq Wk Wv]
    (each output the same dot product as before, so the same maths up to the order XLA sums in), its scores,
    mask, softmax and weighted sum as the module's own (learngpt_flax/multi_head_v2.py, without the sow)."""
    import jax
    import jax.numpy as jnp
    mod = context.module
    if context.method_name != "__call__" or type(mod).__name__ != "MultiHeadVer2" or mod.is_initializing():
        return next_fun(*args, **kwargs)
    x = args[0]
    B, T, C = x.shape
    nh, hs = mod.n_heads, C // mod.n_heads
    p = mod.variables["params"]
    w = jnp.concatenate([p["query"]["kernel"], p["key"]["kernel"], p["value"]["kernel"]], axis=1)  # (C, 3C)
    q, k, v = (a.reshape(B, T, nh, hs) for a in jnp.split(x @ w, 3, axis=-1))
    wei = jnp.einsum("bthd,bshd->bhts", q, k) * C ** -0.5
    wei = jax.nn.softmax(jnp.where(jnp.tril(jnp.ones((T, T), dtype=bool)), wei, -jnp.inf), axis=-1)
    return mod.proj(jnp.einsum("bhts,bshd->bthd", wei, v).reshape(B, T, C))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rung", default="laptop", help="a rung of tools/ladder.py (default laptop)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--segment", type=int, default=None, help="steps per segment (default: the rung's)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of rounds (default 120)")
    parser.add_argument("--max-rounds", type=int, default=30, help="rounds at most (default 30)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "results" / "flax-fast-attempts.json"),
                        help="the results file (default docs/results/flax-fast-attempts.json)")
    args = parser.parse_args(argv)
    import os

    from tools.ladder import RUNGS, matmul_peak, thread_env
    if os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):  # BLAS and XLA read them at start: again
        os.execve(sys.executable, [sys.executable, __file__] + list(sys.argv[1:] if argv is None else argv),
                  thread_env(args.threads))
    from learngpt_lab.threads import pin
    pin(args.threads)  # one thread: one core (XLA's dots have a pool of their own)
    from learngpt_lab.threads import set_threads
    set_threads(args.threads)
    import contextlib

    import jax
    import numpy as np
    from flax import linen as nn

    import learngpt_flax
    from learngpt_lab import files, stats
    from learngpt.config import Config
    from learngpt.data import BatchSampler, load_corpus
    from learngpt.training import eval_data
    from learngpt_flax import fast, trainer
    from learngpt_flax.optim import make_optimizer
    from learngpt_lab.bench.plan import Size
    from learngpt_lab.bench.report import clean

    dims, dropout, segment = RUNGS[args.rung]
    segment = args.segment or segment
    size = Size(*dims)
    corpus = load_corpus(None)
    cfg = size.config(Config(dropout=dropout, vocab_size=corpus.tokenizer.vocab_size))
    peak = matmul_peak()
    from learngpt import components
    model = components.build(learngpt_flax, "NanoGPT", cfg)
    params0 = model.init(jax.random.key(cfg.seed), np.zeros((1, cfg.block_size), np.int32))["params"]

    def variant(options: dict, interceptors: tuple, fused: bool):
        sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
        evals = eval_data(sampler, cfg, 1)
        programs: dict = {}
        box = [params0]
        chosen = tuple(getattr(fast, name, None) or globals()[name] for name in interceptors)
        make_step = lambda model, optimizer: fast.make_step(model, optimizer, chosen)  # noqa: E731

        def once(fn, *a):
            key = (str(jax.tree_util.tree_structure(a)), *((x.shape, str(x.dtype)) for x in jax.tree.leaves(a)))
            if key not in programs:
                with nn.intercept_methods(fused_qkv) if fused else contextlib.nullcontext():  # while it traces
                    lowered = fn.lower(*a)
                programs[key] = (fast.compile_program(lowered, "cpu") if options is None else
                                 lowered.compile(compiler_options=options) if options else lowered.compile())
            return programs[key]

        def run():
            box[0], h = trainer.train(model, box[0], cfg, sampler, evals, max_iters=segment, eval_interval=segment,
                                      key=fast.dropout_key(cfg.seed), make_step=make_step,
                                      make_run=trainer.scan_steps, compile=once)
            return h
        return run

    names = list(VARIANTS)
    live = {n: variant(*VARIANTS[n]) for n in names}
    compile_s = {n: live[n]().compile_seconds for n in names}  # the warm-up segment compiles
    t0 = time.perf_counter()
    rounds, load, figures = stats.until_narrow(
        lambda r: {names[i]: (lambda h: h.train_seconds / h.steps)(live[names[i]]())
                   for i in stats.rotation(len(names), r)},
        names[0], args.threads, None, stats.INTERVAL_LIMIT, 6, args.max_rounds, args.budget)
    gflop = size.train_gflops(cfg.vocab_size)
    rows = []
    for n in names:
        f = figures[n]
        sps = 1 / float(np.median(f.times))
        ratio = 1.0 if n == names[0] else float(np.median(f.ratios))
        rows.append({"variant": n, "speedup_vs_adopted": ratio, "interval": list(f.interval) if n != names[0] else
                     [1.0, 1.0], "steps_per_second": sps, "gflops_per_second": sps * gflop,
                     "peak_share": sps * gflop / peak["peak"], "compile_seconds": compile_s[n], "flags": f.flags})
        print(f"{n}: {sps:.1f} steps/s, {ratio:.3f}x {rows[-1]['interval']}, "
              f"{sps * gflop / peak['peak']:.0%} of peak", file=sys.stderr)
    result = {"schema": "learngpt-flax-fast-attempts/1", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "rung": args.rung, "size": dims, "threads": args.threads, "segment_steps": segment, "rounds": rounds,
              "matmul": peak, "gflop_per_step": gflop, "load_average": load.load_average, "cpu_wait": load.cpu_wait,
              "cores": load.cores, "seconds": time.perf_counter() - t0,
              "command": "python experiments/flax_fast_attempts.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "rows": rows}
    files.write_text(Path(args.out), json.dumps(clean(result), indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

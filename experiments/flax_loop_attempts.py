"""What was tried to make the Flax training loop faster, measured paired: each variant is the trainer's step
(learngpt_flax.trainer.make_step, or learngpt_flax.fast.make_step with LayerNorm input gradients stored only,
the step as it was before dense_grads; experiments/flax_fast_attempts.py measures that) fused
in one lax.scan of `steps` steps at the curriculum's config, compiled
with the variant's dropout PRNG, XLA options, buffer donation and LayerNorm input gradients stored or not; the
variants take turns in rotating rounds (stats.rotation) and each is reported as the median of its per-round
speed ratios to the first variant (the trainer as it was: threefry keys, XLA's default options), with the
interquartile range. Also the kernels a step runs (top-level instructions of the scan's body, a while loop's
body counted once per iteration) and the largest of them, in instructions.

    python experiments/flax_loop_attempts.py --threads 1 --out docs/results/flax-loop-attempts.json

docs/bench.md's table "The Flax loop" is generated from that file (tools/docs.py, attempts_table).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace

YNN_OFF = {"xla_cpu_experimental_ynn_fusion_type": ""}
REGION = {"xla_cpu_copy_insertion_use_region_analysis": True}


@dataclass(frozen=True)
class Variant:
    """One way to build and compile the scan-fused step."""
    prng: str  # the dropout key's implementation (rbg_threefry: learngpt_flax.fast.DROPOUT_RNG)
    options: dict = field(default_factory=dict)  # XLA compile options
    donate: bool = False  # the scan's carry donated
    dropout: bool = True
    store_norm_grads: bool = False  # learngpt_flax.fast.make_step: each LayerNorm's input gradient stored


ADOPTED_FIRST = Variant("rbg_threefry", YNN_OFF)
ADOPTED = Variant("rbg_threefry", YNN_OFF, store_norm_grads=True)
VARIANTS = {
    "before (threefry2x32 keys, XLA defaults)": Variant("threefry2x32"),
    "carry donated": Variant("threefry2x32", donate=True),
    "copy insertion by region analysis": Variant("threefry2x32", REGION),
    "dropout PRNG rbg": Variant("rbg"),
    "dropout PRNG unsafe_rbg": Variant("unsafe_rbg"),
    "dropout PRNG philox4x32": Variant("philox4x32"),
    "YNNPACK fusions off": Variant("threefry2x32", YNN_OFF),
    "YNNPACK off + rbg": Variant("rbg", YNN_OFF),
    "YNNPACK off + unsafe_rbg": Variant("unsafe_rbg", YNN_OFF),
    "dropout PRNG unsafe_rbg with RBG as Threefry": Variant("rbg_threefry"),
    "YNNPACK off + unsafe_rbg with RBG as Threefry (adopted first)": ADOPTED_FIRST,
    "LayerNorm input gradients stored, alone": Variant("threefry2x32", store_norm_grads=True),
    "adopted first + LayerNorm input gradients stored (adopted)": ADOPTED,
    "adopted + carry donated": replace(ADOPTED, donate=True),
    "adopted + copy insertion by region analysis": replace(ADOPTED, options={**YNN_OFF, **REGION}),
    "ceiling: adopted with dropout off": replace(ADOPTED, dropout=False),
}
FREE = {"parameter", "get-tuple-element", "tuple", "bitcast", "constant", "after-all", "opt-barrier"}


def kernels_per_step(hlo: str) -> dict:
    """Top-level instructions the scan's body runs per step (fusions, dots, copies, ...), loops expanded."""
    comps, entry, cur = {}, None, None
    for line in hlo.splitlines():
        m = re.match(r"^(ENTRY )?%?([\w.\-]+) .*\{\s*$", line)
        if m and not line.startswith(" "):
            cur = m.group(2)
            comps[cur] = []
            entry = cur if m.group(1) else entry
        elif line.startswith("}"):
            cur = None
        elif cur:
            mm = re.match(r"\s*(ROOT )?%?[\w.\-]+ = .*? ([a-z][\w\-]*)\(", line)
            if mm:
                comps[cur].append((mm.group(2), line))

    def count(name: str, out: Counter) -> Counter:
        for op, line in comps.get(name, []):
            if op in FREE:
                continue
            if op == "while":
                trip = re.search(r'"known_trip_count":\{"n":"(\d+)"', line)
                sub = Counter()
                for part in ("body", "condition"):
                    count(re.search(part + r"=%?([\w.\-]+)", line).group(1), sub)
                out["while loops"] += 1
                for k, v in sub.items():
                    out[k] += v * (int(trip.group(1)) if trip else 1)
            elif op in ("call", "conditional"):
                for c in re.findall(r"(?:to_apply|calls|branch_computations)=\{?%?([\w.\-]+)", line):
                    count(c, out)
            else:
                out[op] += 1
        return out
    scan = next(line for op, line in comps[entry] if op == "while")
    c = count(re.search(r"body=%?([\w.\-]+)", scan).group(1), Counter())
    return {"kernels": sum(v for k, v in c.items() if k != "while loops"), "while_loops": c["while loops"],
            "fusions": c["fusion"], "copies": c["copy"], "dots": c["dot"]}


def run(names: list[str], steps: int, rounds: int, log=print) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import learngpt_flax
    from learngpt import components
    from learngpt_lab import stats
    from learngpt.config import Config
    from learngpt_flax import fast, trainer
    from learngpt_flax.fast import largest_kernels

    cfg = Config()
    model = components.build(learngpt_flax, "NanoGPT", cfg)
    params = model.init(jax.random.key(cfg.seed), np.zeros((1, cfg.block_size), np.int32))["params"]
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.integers(0, cfg.vocab_size, (steps, cfg.batch_size, cfg.block_size)), jnp.int32)
    ys = jnp.asarray(rng.integers(0, cfg.vocab_size, (steps, cfg.batch_size, cfg.block_size)), jnp.int32)
    optimizer = trainer.make_optimizer(cfg)

    def nodrop(step_model, store: bool):
        import contextlib

        import optax
        from flax import linen as nn

        def loss_fn(q, x, y):
            with nn.intercept_methods(fast.store_norm_grads) if store else contextlib.nullcontext():
                return step_model.apply({"params": q}, x, y)[1]

        def step(state, batch):
            p, opt_state, key = state
            loss, grads = jax.value_and_grad(loss_fn)(p, *batch)
            updates, opt_state = optimizer.update(grads, opt_state, p)
            return (optax.apply_updates(p, updates), opt_state, key), loss
        return step

    built = []
    for name in names:
        v = VARIANTS[name]
        stored = lambda m, o: fast.make_step(m, o, (fast.store_norm_grads,))  # noqa: E731
        maker = stored if v.store_norm_grads else trainer.make_step
        step = maker(model, optimizer) if v.dropout else nodrop(model, v.store_norm_grads)
        scan = jax.jit(lambda s, a, b, step=step: jax.lax.scan(step, s, (a, b)),
                       donate_argnums=(0,) if v.donate else ())
        key = jax.random.key(0, impl=fast.DROPOUT_RNG if v.prng == "rbg_threefry" else v.prng)
        t0 = time.perf_counter()
        program = scan.lower((params, optimizer.init(params), key), xs, ys).compile(compiler_options=v.options)
        log(f"compiled {name} in {time.perf_counter() - t0:.0f} s")
        text = program.as_text()
        built.append((program, key, {**kernels_per_step(text), "largest_kernel": largest_kernels(text, 1)[0]}))
    times: list[list[float]] = [[] for _ in names]
    meter = stats.LoadMeter().start()
    t_start = time.perf_counter()
    for r in range(rounds + 1):  # round 0 warms up
        for i in stats.rotation(len(names), r):
            program, key, _ = built[i]
            state = jax.tree_util.tree_map(jnp.copy, (params, optimizer.init(params), key))  # donation-safe
            jax.block_until_ready(state)
            t0 = time.perf_counter()
            jax.block_until_ready(program(state, xs, ys))
            if r:
                times[i].append(time.perf_counter() - t0)
    load = meter.stop(time.perf_counter() - t_start)
    rows = []
    for i, name in enumerate(names):
        ratios = stats.paired_ratios(times[0], times[i])
        p25, med, p75 = stats.quartiles(ratios)
        v = VARIANTS[name]
        rows.append({"variant": name, "prng": v.prng, "compiler_options": v.options, "donate": v.donate,
                     "dropout": v.dropout, "layer_norm_grads_stored": v.store_norm_grads,
                     "steps_per_second": steps / float(np.median(times[i])), "speedup_vs_first": med,
                     "speedup_p25": p25, "speedup_p75": p75, "times_s": times[i], **built[i][2]})
    return {"schema": "learngpt-flax-loop-attempts/1", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "steps": steps, "rounds": rounds, "load_average": load.load_average, "cpu_wait": load.cpu_wait,
            "cores": load.cores, "xla_flags": os.environ.get("XLA_FLAGS", ""), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="steps per scan (one repeat)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", default=None, help="names separated by | (default: all); the first is "
                                                          "the base of the ratios")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from learngpt_lab.threads import set_threads
    set_threads(args.threads)
    names = list(VARIANTS) if args.variants is None else [v.strip() for v in args.variants.split("|")]
    result = run(names, args.steps, args.rounds, log=lambda m: print(m, file=sys.stderr, flush=True))
    for r in result["rows"]:
        print(f"{r['variant']:<42} {r['steps_per_second']:7.1f} steps/s  {r['speedup_vs_first']:.3f}x "
              f"[{r['speedup_p25']:.3f}, {r['speedup_p75']:.3f}]  {r['kernels']} kernels, "
              f"{r['while_loops']} loops, largest kernel {r['largest_kernel']} instructions")
    print(f"load average {result['load_average']}, waited for a CPU {result['cpu_wait']}")
    if args.out:
        from learngpt_lab.bench.report import write_json
        write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

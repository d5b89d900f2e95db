"""What NNX's Python costs, paired: the same AdamW training step of NanoGPT (the curriculum's config, the same
initial weights, the same batches, dropout on) called once per Python call as

    linen jax.jit          jax.jit(learngpt_flax.trainer.make_step(...)) on the (params, opt_state, key) pytree
    nnx split/merge        jax.jit of learngpt_nnx.trainer.step between nnx.merge and nnx.split: pure jax.jit
                           on the State, the caller keeps the arrays (what learngpt_nnx/fast.py compiles)
    nnx.jit                nnx.jit(learngpt_nnx.trainer.step)(model, optimizer, batch): NNX's own way, the
                           model and optimizer updated in place (what learngpt_nnx/trainer.py, the lesson, runs)
    nnx.jit graph=False    the same in NNX's tree mode (modules as plain pytrees, no graph traversal)

and, second, the four trainers' steps/s over whole chunks (the lessons, one jitted step per call, and the fast
forms, one lax.scan per chunk): learngpt_flax.trainer / fast and learngpt_nnx.trainer / fast. The variants take
turns in rotating rounds (learngpt_lab.stats.rotation); each round times `calls` steps after a warm-up, compiling
is done and timed apart; a variant's figure is its median over rounds, and each is also given as the median of
its per-round ratio to linen's (paired: the same round, the same machine state).

    python experiments/nnx_overhead.py --threads 1 --out docs/results/nnx-overhead.json
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _setup(seed: int):
    import jax
    import jax.numpy as jnp

    from learngpt.components import NANOGPT
    from learngpt.config import Config
    from learngpt.data import BatchSampler, load_corpus
    from learngpt_lab import backends
    cfg = Config()
    corpus = load_corpus()
    torch = backends.get("torch")
    weights = torch.get_weights(torch.create(NANOGPT.recipe(cfg), seed=seed))
    example = np.zeros((1, cfg.block_size), np.int64)
    models = {name: backends.get(name).create(NANOGPT.recipe(cfg), example=example, weights=weights)
              for name in ("flax", "nnx")}
    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed)
    xs, ys = sampler.sample_many(64, "train")
    batches = [(jnp.asarray(x), jnp.asarray(y)) for x, y in zip(xs, ys)]
    return cfg, corpus, weights, models, batches, jax


def step_variants(cfg, models, seed: int) -> dict:
    """name -> (compile() -> call(batch)): each variant's state kept between calls, as a training loop would."""
    import jax
    from flax import nnx

    from learngpt_flax import trainer as linen_trainer
    from learngpt_flax.optim import make_optimizer as linen_optimizer
    from learngpt_nnx import trainer as nnx_trainer
    from learngpt_nnx.optim import make_optimizer as nnx_optimizer

    def linen():
        module, params = models["flax"].module, models["flax"].params
        tx = linen_optimizer(cfg)
        step = jax.jit(linen_trainer.make_step(module, tx))
        state = [(params, tx.init(params), jax.random.key(seed))]

        def call(batch):
            state[0], loss = step(state[0], batch)
            return loss
        return call

    def fresh_nnx():
        model = nnx.clone(models["nnx"].module)
        model.train()
        nnx.reseed(model, dropout=seed)
        return model, nnx_optimizer(model, cfg)

    def split_merge():
        model, optimizer = fresh_nnx()
        graphdef, state = nnx.split((model, optimizer))

        @jax.jit
        def pure(state, batch):
            model, optimizer = nnx.merge(graphdef, state)
            loss = nnx_trainer.step(model, optimizer, batch)
            return nnx.state((model, optimizer)), loss
        held = [state]

        def call(batch):
            held[0], loss = pure(held[0], batch)
            return loss
        return call

    def nnx_jit(graph: bool | None):
        def build():
            model, optimizer = fresh_nnx()
            step = nnx.jit(nnx_trainer.step) if graph is None else nnx.jit(nnx_trainer.step, graph=graph)
            return lambda batch: step(model, optimizer, batch)
        return build

    return {"linen jax.jit": linen, "nnx split/merge": split_merge, "nnx.jit": nnx_jit(None),
            "nnx.jit graph=False": nnx_jit(False)}


def trainer_variants(cfg, weights, corpus, seed: int, steps: int) -> dict:
    """name -> (compile() -> call()): one call trains `steps` steps (one chunk) from the same weights."""
    from learngpt.data import BatchSampler
    from learngpt.training import eval_data
    from learngpt_lab import backends
    from learngpt_flax import fast as linen_fast, trainer as linen_trainer
    from learngpt_nnx import fast as nnx_fast, trainer as nnx_trainer
    run_cfg = cfg.replace(max_iters=steps, eval_interval=steps, eval_iters=1)
    evals = eval_data(BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed), run_cfg)
    example = np.zeros((1, cfg.block_size), np.int64)

    def make(backend: str, train):
        def build():
            b = backends.get(backend)

            def call():
                model = b.create(__import__("learngpt.components").components.NANOGPT.recipe(cfg),
                                 example=example, weights=weights)
                sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed)
                if backend == "flax":
                    return train(model.module, model.params, run_cfg, sampler, evals)[1].train_seconds
                return train(model.module, run_cfg, sampler, evals).train_seconds
            return call
        return build
    return {"linen lesson": make("flax", linen_trainer.train), "linen fast": make("flax", linen_fast.train),
            "nnx lesson": make("nnx", nnx_trainer.train), "nnx fast": make("nnx", nnx_fast.train)}


def measure_steps(variants: dict, batches: list, calls: int, rounds: int, log) -> dict:
    import jax

    from learngpt_lab.stats import rotation
    names = list(variants)
    calls_of, compile_s = {}, {}
    for name in names:
        t0 = time.perf_counter()
        call = variants[name]()
        jax.block_until_ready(call(batches[0]))  # the first call compiles
        compile_s[name] = time.perf_counter() - t0
        for b in batches[1:6]:  # warm-up
            jax.block_until_ready(call(b))
        calls_of[name] = call
        log(f"{name}: compiled and warm in {compile_s[name]:.1f} s")
    times = {name: [] for name in names}
    for r in range(rounds):
        for i in rotation(len(names), r):
            call = calls_of[names[i]]
            t0 = time.perf_counter()
            for k in range(calls):
                loss = call(batches[k % len(batches)])
            jax.block_until_ready(loss)
            times[names[i]].append((time.perf_counter() - t0) / calls)
    return {"times": times, "compile_s": compile_s}


def measure_trainers(variants: dict, rounds: int, log) -> dict:
    from learngpt_lab.stats import rotation
    names = list(variants)
    calls_of = {name: variants[name]() for name in names}
    for name in names:  # warm-up: compiles every program (the fast forms keep theirs for the process)
        calls_of[name]()
        log(f"{name}: warm")
    times = {name: [] for name in names}
    for r in range(rounds):
        for i in rotation(len(names), r):
            times[names[i]].append(calls_of[names[i]]())
    return {"times": times}


def summarise(times: dict, reference: str, per: int) -> list[dict]:
    from learngpt_lab.stats import paired_ratios, quartiles
    rows = []
    for name, t in times.items():
        ratios = [1 / r for r in paired_ratios(times[reference], t)]  # this variant's time over the reference's
        lo, mid, hi = quartiles(ratios)
        rows.append({"variant": name, "median_s_per_step": float(np.median(t)) / per,
                     "steps_per_second": per / float(np.median(t)), "time_vs_" + reference.replace(" ", "_"): mid,
                     "ratio_p25": lo, "ratio_p75": hi, "times_s": t})
    return rows


def run(calls: int, rounds: int, trainer_steps: int, trainer_rounds: int, seed: int, log) -> dict:
    from learngpt_lab import stats
    cfg, corpus, weights, models, batches, _ = _setup(seed)
    steps = measure_steps(step_variants(cfg, models, seed), batches, calls, rounds, log)
    step_rows = summarise(steps["times"], "linen jax.jit", 1)
    for row in step_rows:
        row["compile_and_first_call_s"] = steps["compile_s"][row["variant"]]
    by = {r["variant"]: r["median_s_per_step"] for r in step_rows}
    trainers = measure_trainers(trainer_variants(cfg, weights, corpus, seed, trainer_steps), trainer_rounds, log)
    return {"schema": "learngpt-nnx-overhead/1", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": stats.machine(), "config": cfg.to_dict(), "calls_per_round": calls, "rounds": rounds,
            "steps": step_rows,
            "nnx_jit_python_overhead_us": (by["nnx.jit"] - by["nnx split/merge"]) * 1e6,
            "trainer_steps": trainer_steps, "trainer_rounds": trainer_rounds,
            "trainers": summarise(trainers["times"], "linen fast", trainer_steps)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="steps timed per round, one Python call each")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--trainer-steps", type=int, default=500, help="steps per trainer run (one chunk)")
    parser.add_argument("--trainer-rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from learngpt_lab.threads import set_threads
    set_threads(args.threads)
    result = run(args.calls, args.rounds, args.trainer_steps, args.trainer_rounds, args.seed,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    for section in ("steps", "trainers"):
        for r in result[section]:
            ratio = next(v for k, v in r.items() if k.startswith("time_vs_"))
            print(f"{section:<9} {r['variant']:<22} {r['steps_per_second']:8.1f} steps/s  "
                  f"{r['median_s_per_step'] * 1e6:8.0f} us/step  time x{ratio:.3f} "
                  f"[{r['ratio_p25']:.3f}, {r['ratio_p75']:.3f}] of the reference")
    print(f"nnx.jit's Python per call beyond pure jax.jit: {result['nnx_jit_python_overhead_us']:.0f} us")
    if args.out:
        from learngpt_lab.bench.report import write_json
        write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

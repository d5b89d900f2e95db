"""Same start, same path: GPTVer4(2 x BlockVer3(MultiHeadVer2)) trained 200 AdamW steps in torch and in Flax
(linen: "runs"; NNX: "nnx_runs", the same figures against the same torch runs).

    python tools/trajectory.py --out docs/results/trajectory.json

Identical initial weights (torch's init, carried by the bridge), the identical batch stream (the shared
sampler), each backend's own trainer; float64 on the config's seed, float32 on four seeds. For every run: the
largest |step loss difference| (and its step), the largest |evaluation loss difference| at steps 0, 100 and
200, and the largest |parameter difference| after training (and its tensor). In float32 also how far roundoff
alone carries torch: against itself with every initial weight moved one ulp up, against itself on two threads
(another summation order), and both float32 runs against torch in float64 from the same weights. The threads are pinned before
either framework starts (torch one intra-op thread, XLA's Eigen single-threaded): float32 roundoff, and with it
the float32 figures, depends on the summation order, which the thread count moves.
tests/parity/test_trajectory.py runs this script and asserts the bounds on what it writes; tools/docs.py
renders the README's and docs/compare.md's figures from the committed file.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, when run as a script

STEPS = 200
EVAL_INTERVAL, EVAL_ITERS = 100, 20  # evaluation at steps 0, 100 and 200 on 20 fixed batches per split
FLOAT32_SEEDS = (0, 1, 2)  # beside the config's own seed


def figures(dtype: str, seed: int, reference: tuple, other: tuple) -> dict:
    """One run's figures: (history, weights) of torch against those of a JAX side."""
    import numpy as np

    (th, tw), (fh, fw) = reference, other
    steps = np.abs(np.asarray(th.step_losses) - np.asarray(fh.step_losses))
    evals_diff = [abs(getattr(a, split) - getattr(b, split)) for a, b in zip(th.evals, fh.evals)
                  for split in ("train_loss", "val_loss")]
    params = {k: float(np.abs(tw[k].astype(np.float64) - fw[k].astype(np.float64)).max()) for k in tw}
    worst = max(params, key=params.get)
    return {"dtype": dtype, "seed": seed, "steps": [len(th.step_losses), len(fh.step_losses)],
            "eval_steps": [[e.step for e in th.evals], [e.step for e in fh.evals]],
            "weight_dtypes": sorted({str(v.dtype) for h in (tw, fw) for v in h.values()}),
            "same_keys": sorted(tw) == sorted(fw),
            "step_loss_max": float(steps.max()), "step_loss_argmax": int(steps.argmax()),
            "eval_loss_max": float(max(evals_diff)), "param_max": params[worst], "param_key": worst}


def measure(data: str | None = None, roundoff: bool = True) -> dict:
    """Every run's figures, and the conditions they were measured in; roundoff=False leaves out the float32
    runs that show how far roundoff alone carries torch (what the bounds are asserted on stays)."""
    import numpy as np

    from learngpt_lab import stats
    from learngpt.components import Architecture
    from learngpt.config import Config
    from learngpt.data import BatchSampler, load_corpus
    from learngpt.training import eval_data
    from learngpt_lab import backends

    import torch
    corpus = load_corpus(data)
    arch = Architecture("GPTVer4", "BlockVer3", 2, "MultiHeadVer2")
    base = Config(eval_interval=EVAL_INTERVAL, eval_iters=EVAL_ITERS)
    seeds = {"float64": (base.seed,), "float32": (base.seed, *FLOAT32_SEEDS)}
    runs, nnx_runs = [], []  # torch against linen, torch against NNX
    for dtype, dtype_seeds in seeds.items():
        for seed in dtype_seeds:
            cfg = base.replace(seed=seed)
            reference = backends.get("torch")
            init = reference.get_weights(reference.create(arch.recipe(cfg), seed=seed))
            weights = {k: v.astype(dtype) for k, v in init.items()}
            evals = eval_data(BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed), cfg)
            got = {}
            for name in ("torch", "flax", "nnx"):
                b = backends.get(name, dtype=dtype)
                model = b.create(arch.recipe(cfg), example=np.zeros((1, cfg.block_size), np.int64), seed=seed)
                b.set_weights(model, weights)
                history = b.train(model, cfg, BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed), evals,
                                  max_iters=STEPS)
                got[name] = (history, b.get_weights(model))
            if dtype == "float32" and roundoff:  # how far float32 roundoff alone carries torch from itself and from float64
                def torch_run(start: dict, as_dtype: str = dtype, threads: int = 1) -> dict:
                    b = backends.get("torch", dtype=as_dtype)
                    model = b.create(arch.recipe(cfg), seed=seed)
                    b.set_weights(model, {k: v.astype(as_dtype) for k, v in start.items()})
                    before = torch.get_num_threads()
                    torch.set_num_threads(threads)
                    try:
                        b.train(model, cfg, BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed), evals,
                                max_iters=STEPS)
                    finally:
                        torch.set_num_threads(before)
                    return b.get_weights(model)
                extra = {"torch_one_ulp_up": torch_run({k: np.nextafter(v, np.float32(np.inf))
                                                        for k, v in weights.items()}),
                         "torch_two_threads": torch_run(weights, threads=2),
                         "torch_float64": torch_run(weights, "float64")}
            tw, fw = got["torch"][1], got["flax"][1]
            runs.append(figures(dtype, seed, got["torch"], got["flax"]))
            nnx_runs.append(figures(dtype, seed, got["torch"], got["nnx"]))
            if dtype == "float32" and roundoff:
                def apart(a: dict, b: dict) -> float:
                    return max(float(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max()) for k in a)
                runs[-1] |= {"torch_vs_torch_one_ulp_up_param_max": apart(tw, extra["torch_one_ulp_up"]),
                             "torch_vs_torch_two_threads_param_max": apart(tw, extra["torch_two_threads"]),
                             "torch_vs_float64_param_max": apart(tw, extra["torch_float64"]),
                             "flax_vs_float64_param_max": apart(fw, extra["torch_float64"])}
            for side, run in (("flax", runs[-1]), ("nnx", nnx_runs[-1])):
                print(f"{dtype} seed {seed} torch-{side}: step loss {run['step_loss_max']:.2e}, evaluation "
                      f"{run['eval_loss_max']:.2e}, parameters {run['param_max']:.2e} ({run['param_key']})",
                      file=sys.stderr)
    return {"what": f"GPTVer4(2 x BlockVer3(MultiHeadVer2)) trained {STEPS} AdamW steps in torch and in Flax from the same weights and "
                    f"batches (tools/trajectory.py)",
            "steps": STEPS, "eval_interval": EVAL_INTERVAL, "eval_iters": EVAL_ITERS,
            "conditions": {"torch_threads": torch.get_num_threads(), "xla": "Eigen single-threaded",
                           **{k: v for k, v in stats.machine().items() if k in ("cpu_model", "versions")}},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": runs, "nnx_runs": nnx_runs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python tools/trajectory.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the JSON file to write (docs/results/trajectory.json)")
    p.add_argument("--data", default=None, help="tiny-shakespeare (default: as `learngpt train`)")
    p.add_argument("--bounds-only", action="store_true",
                   help="only the torch-against-Flax runs the test's bounds are asserted on (docs/results wants all)")
    args = p.parse_args(argv)
    from learngpt_lab.threads import set_threads
    set_threads(1)  # before JAX starts: XLA reads its thread flags once
    from learngpt_lab import files
    files.write_text(Path(args.out), json.dumps(measure(args.data, roundoff=not args.bounds_only), indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

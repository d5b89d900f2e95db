"""Same start, same path: 200 AdamW steps of GPTVer4(2 x BlockVer3(MultiHeadVer2)) in torch and in Flax.

Identical initial weights (torch's init, carried by the bridge), the identical batch stream (the shared
sampler), AdamW with every hyper-parameter stated on both sides (and, in Flax, torch's arithmetic:
learngpt_flax/optim.py). Bounds: |delta loss| <= 1e-9 in float64 and <= 1e-4 in float32 at every step and
every evaluation; parameters after 200 steps within the same bounds. float64 runs the config's seed;
float32, where roundoff can be amplified, runs four seeds and every one must keep the bounds.
"""
import numpy as np
import pytest

from learngpt.components import Architecture
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import eval_data
from learngpt_lab import backends

pytestmark = pytest.mark.training

BOUND = {"float64": 1e-9, "float32": 1e-4}
STEPS = 200
CFG = Config(eval_interval=100, eval_iters=20)  # the seed's config; evaluation on 20 fixed batches per split
SEEDS = {"float64": (CFG.seed,), "float32": (CFG.seed, 0, 1, 2)}


ARCH = Architecture("GPTVer4", "BlockVer3", 2, "MultiHeadVer2")


@pytest.fixture(scope="module")
def runs(corpus):
    """dtype -> {backend: (History, final weights)}, both backends from the same weights and batches."""
    if set(backends.selected()) != set(backends.NAMES):
        pytest.skip("the trajectory comparison needs both backends")
    out = {}
    for dtype, seeds in SEEDS.items():
        out[dtype] = {}
        for seed in seeds:
            cfg = CFG.replace(seed=seed)
            reference = backends.get("torch")
            init = reference.get_weights(reference.create(ARCH.recipe(cfg), seed=seed))
            weights = {k: v.astype(dtype) for k, v in init.items()}
            evals = eval_data(BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed), cfg)
            out[dtype][seed] = {}
            for name in backends.NAMES:
                b = backends.get(name, dtype=dtype)
                model = b.create(ARCH.recipe(cfg), example=np.zeros((1, cfg.block_size), np.int64), seed=seed)
                b.set_weights(model, weights)
                sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed)
                history = b.train(model, cfg, sampler, evals, max_iters=STEPS)
                final = b.get_weights(model)
                assert all(v.dtype == np.dtype(dtype) for v in final.values()), f"{b.name} did not train in {dtype}"
                out[dtype][seed][name] = (history, final)
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_step_losses_agree(runs, dtype):
    for seed, run in runs[dtype].items():
        t, f = np.asarray(run["torch"][0].step_losses), np.asarray(run["flax"][0].step_losses)
        assert len(t) == len(f) == STEPS
        diff = np.abs(t - f)
        worst = int(diff.argmax())
        print(f"[{dtype}] seed {seed}: max |step loss diff| {diff.max():.3e} at step {worst}")
        assert diff.max() <= BOUND[dtype], (f"GPTVer4(2xBlockVer3) [{dtype}] seed {seed} step loss: max |diff| "
                                            f"{diff.max():.3e} at step {worst} exceeds bound {BOUND[dtype]:.0e}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_evaluation_losses_agree(runs, dtype):
    for seed, run in runs[dtype].items():
        t, f = run["torch"][0].evals, run["flax"][0].evals
        assert [e.step for e in t] == [e.step for e in f] == [0, 100, 200]
        for a, b in zip(t, f):
            for split in ("train_loss", "val_loss"):
                diff = abs(getattr(a, split) - getattr(b, split))
                assert diff <= BOUND[dtype], (f"GPTVer4(2xBlockVer3) [{dtype}] seed {seed} {split} at step {a.step}: "
                                              f"|diff| {diff:.3e} exceeds bound {BOUND[dtype]:.0e}")


def assert_params_agree(runs, dtype):
    failures = []
    for seed, run in runs[dtype].items():
        t, f = run["torch"][1], run["flax"][1]
        assert sorted(t) == sorted(f)
        diffs = {k: float(np.abs(t[k].astype(np.float64) - f[k].astype(np.float64)).max()) for k in t}
        key = max(diffs, key=diffs.get)
        print(f"[{dtype}] seed {seed}: max |parameter diff| after {STEPS} steps {diffs[key]:.3e} in {key}")
        if diffs[key] > BOUND[dtype]:
            failures.append(f"seed {seed}: max |diff| {diffs[key]:.3e} in {key}")
    assert not failures, (f"GPTVer4(2xBlockVer3) [{dtype}] parameters after {STEPS} steps exceed bound "
                          f"{BOUND[dtype]:.0e}: " + "; ".join(failures))


def test_parameters_agree_float64(runs):
    assert_params_agree(runs, "float64")


@pytest.mark.xfail(strict=True, reason=(
    "float32 roundoff amplified by the trajectory itself (measured, seeds 1337, 0, 1, 2): float64 runs agree to "
    "3e-14 and float32 step losses to <= 3e-5, but float32 parameters after 200 steps differ by 1.5e-5, 4.3e-4, "
    "1.1e-3 and 1.3e-3 (torch on one thread; on two threads seeds 1 and 2 give 2.2e-3 and 7.7e-5: torch's own "
    "summation order moves the result), the large ones in single rows of an FFN's first Linear (ReLU units at their kink, where a "
    "rounding error switches a unit on or off and Adam's normalised update turns that into a full step). Torch "
    "float32 against itself with every initial weight moved one ulp ends 1.4e-3..2.2e-3 apart on seeds 1 and 2, "
    "so no float32 implementation holds 1e-4 on parameters here. (optax.adamw's float32 bias correction added "
    "1.5e-3..3.4e-3 on every seed; learngpt_flax/optim.py removed that part.) See docs/compare.md."))
def test_parameters_agree_float32(runs):
    assert_params_agree(runs, "float32")

"""Flax initialisers draw from torch's default distributions, so a model initialised natively in either
backend starts from the same distribution: Linear weight and bias U(+-1/sqrt(fan_in)), Embedding N(0, 1),
LayerNorms ones and zeros. Checked with moments, ranges and a two-sample Kolmogorov-Smirnov test."""
import numpy as np
import pytest

from learngpt.config import Config
from learngpt.components import Architecture

CFG = Config(embed_size=256, n_heads=8, block_size=8, vocab_size=512)
KS_CRITICAL = 1.95  # c(alpha) of the two-sample KS test at alpha = 0.001


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, side="right") / a.size
                               - np.searchsorted(b, grid, side="right") / b.size)))


@pytest.fixture(scope="module")
def natively_initialised():
    from learngpt_lab import backends
    idx = np.zeros((1, CFG.block_size), dtype=np.int32)
    out = {}
    for name in backends.NAMES:
        backend = backends.get(name)
        model = backend.create(Architecture("GPTVer4", "BlockVer4", 1).recipe(CFG), example=idx, seed=3)
        out[name] = backend.get_weights(model)
    return out


# (torch key, kind, fan_in)
CASES = [
    ("contextualizer.0.ffwd.net.0.weight", "uniform", 256),  # (1024, 256)
    ("contextualizer.0.ffwd.net.2.weight", "uniform", 1024),  # (256, 1024)
    ("contextualizer.0.head.query.weight", "uniform", 256),
    ("lm_head.bias", "uniform", 256),
    ("contextualizer.0.ffwd.net.0.bias", "uniform", 256),
    ("token_embedding_table.weight", "normal", None),
    ("position_embedding_table.weight", "normal", None),
]


@pytest.mark.parametrize("key,kind,fan_in", CASES)
def test_same_distribution_in_both_backends(natively_initialised, key, kind, fan_in):
    t, f = natively_initialised["torch"][key].ravel(), natively_initialised["flax"][key].ravel()
    assert t.shape == f.shape
    n = t.size
    for name, w in (("torch", t), ("flax", f)):
        if kind == "uniform":
            bound = fan_in ** -0.5
            assert w.min() >= -bound and w.max() <= bound, f"{name} {key} leaves +-{bound}"
            assert abs(w.var() - bound ** 2 / 3) < 6 * bound ** 2 * np.sqrt(4 / 45 / n), f"{name} {key} variance {w.var()}"
            assert abs(w.mean()) < 6 * bound / np.sqrt(3 * n)
        else:
            assert abs(w.mean()) < 6 / np.sqrt(n) and abs(w.std() - 1) < 6 / np.sqrt(2 * n), f"{name} {key}"
    d = ks_statistic(t, f)
    critical = KS_CRITICAL * np.sqrt(2 / n)
    print(f"{key}: KS D = {d:.4f}, critical {critical:.4f} (n = {n})")
    assert d < critical


def test_layer_norms_start_at_ones_and_zeros(natively_initialised):
    for weights in natively_initialised.values():
        for key, value in weights.items():
            if key.endswith(("gamma", "ln_f.weight")):
                assert np.all(value == 1), key
            if key.endswith(("beta", "ln_f.bias")):
                assert np.all(value == 0), key


def test_the_ks_check_can_fail():
    rng = np.random.default_rng(0)
    uniform = rng.uniform(-1 / 16, 1 / 16, 20000)
    lecun = rng.standard_normal(20000) / 16  # flax's default Dense init, the mistake this test exists for
    assert ks_statistic(uniform, lecun) > KS_CRITICAL * np.sqrt(2 / 20000)

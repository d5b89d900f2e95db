"""learngpt_lab/backends/nnx_backend.py's own mechanics: recipes written for torch and linen build NNX modules
(nnx_backend.Seeded gives rngs= where a constructor takes it), a seed draws the same weights again, weights load
all or nothing, dropout follows train()/eval() and its seed, and fast decoding is the module's own generate."""
import numpy as np
import pytest

from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt_lab import backends
from parity.rules import WeightMismatchError

CFG = Config(n_layers=1, dropout=0.1)
EXAMPLE = np.zeros((1, CFG.block_size), np.int64)


@pytest.fixture(scope="module")
def nnx():
    return backends.get("nnx")


def test_a_seed_draws_the_same_weights_and_another_seed_others(nnx):
    a, again, other = (nnx.get_weights(nnx.create(NANOGPT.recipe(CFG), seed=s)) for s in (0, 0, 1))
    assert sorted(a) == sorted(backends.get("torch").get_weights(backends.get("torch").create(NANOGPT.recipe(CFG))))
    assert all(np.array_equal(a[k], again[k]) for k in a)
    drawn = [k for k in a if ".ln" not in k and not k.startswith("ln_f.")]  # LayerNorms start at ones, zeros
    assert len(drawn) > 10 and all(not np.array_equal(a[k], other[k]) for k in drawn)


def test_the_namespace_gives_rngs_only_where_a_constructor_takes_it(nnx):
    lib = nnx.lib
    head = lib.HeadVer1(8, 16)  # no parameters: takes no rngs
    linear = lib.layers.linear(16, 4)  # a factory in a submodule: takes rngs
    assert type(head).__name__ == "HeadVer1" and linear.kernel.shape == (16, 4)


def test_weights_load_all_or_nothing(nnx):
    model = nnx.create(NANOGPT.recipe(CFG), seed=0)
    before = nnx.get_weights(model)
    bad = {**before, "lm_head.weight": before["lm_head.weight"][:, :3]}
    bad.pop("ln_f.bias")
    with pytest.raises(WeightMismatchError, match="lm_head.weight") as err:
        nnx.set_weights(model, bad)
    assert "ln_f.bias" in str(err.value)
    after = nnx.get_weights(model)
    assert all(np.array_equal(before[k], after[k]) for k in before), "a refused load changed the model"
    with pytest.raises(WeightMismatchError):
        nnx.create(NANOGPT.recipe(CFG), example=EXAMPLE, weights=bad)


def test_dropout_follows_the_mode_and_its_seed(nnx):
    model = nnx.create(NANOGPT.recipe(CFG), seed=0)
    x = np.random.default_rng(0).integers(0, CFG.vocab_size, (4, CFG.block_size))
    on, again, other = (nnx.forward(model, x, train=True, seed=s) for s in (1, 1, 2))
    off, off_again = nnx.forward(model, x), nnx.forward(model, x)
    np.testing.assert_array_equal(on, again)
    np.testing.assert_array_equal(off, off_again)
    assert not np.array_equal(on, other) and not np.array_equal(on, off)


def test_complete_is_the_modules_generate(nnx):
    model = nnx.create(NANOGPT.recipe(CFG), seed=0)
    idx = np.array([[1, 2, 3], [4, 5, 6]])
    greedy = nnx.generate(model, idx, 6, greedy=True)  # op by op: each token a forward pass
    np.testing.assert_array_equal(nnx.complete(model, idx, 6, greedy=True), greedy)
    sampled = nnx.complete(model, idx, 6, seed=4, top_k=5)
    np.testing.assert_array_equal(sampled, nnx.complete(model, idx, 6, seed=4, top_k=5))
    assert sampled.shape == (2, 9) and not np.array_equal(sampled, nnx.complete(model, idx, 6, seed=5, top_k=5))

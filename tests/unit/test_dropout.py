"""Dropout in train mode, checked on each backend by itself (the rngs differ by design): BlockVer4's
feed-forward branch is zeroed through its weights, so the block's output minus its input is exactly
drop1(attention(ln1(x))): a fraction ~rate of it is zero, the rest is the eval-mode branch / (1 - rate)."""
import numpy as np
import pytest

RATE = 0.3


def dropout_block(backend, x):
    model = backend.create(lambda lib: lib.BlockVer4(lib.MultiHeadVer2(8, 32, 4), 32, RATE), example=x, seed=0)
    weights = backend.get_weights(model)
    for key in ("ffwd.net.2.weight", "ffwd.net.2.bias"):
        weights[key] = np.zeros_like(weights[key])
    backend.set_weights(model, weights)
    return model


def test_train_mode_drops_a_fraction_rate_and_rescales_survivors(backend):
    x = np.random.default_rng(0).standard_normal((64, 8, 32)).astype(np.float32)
    model = dropout_block(backend, x)
    branch_eval = backend.forward(model, x, train=False) - x  # (B, T, C)
    branch_train = backend.forward(model, x, train=True, seed=1) - x  # (B, T, C)
    dropped = np.abs(branch_train) < 1e-12
    n = dropped.size
    sigma = np.sqrt(RATE * (1 - RATE) / n)
    print(f"[{backend}] fraction zeroed {dropped.mean():.4f} (rate {RATE}, 4 sigma = {4 * sigma:.4f})")
    assert abs(dropped.mean() - RATE) < 4 * sigma
    survivors = ~dropped
    np.testing.assert_allclose(branch_train[survivors], branch_eval[survivors] / (1 - RATE), rtol=2e-5, atol=2e-6)


def test_train_mode_differs_call_to_call_and_eval_does_not(backend):
    x = np.random.default_rng(1).standard_normal((4, 8, 32)).astype(np.float32)
    model = dropout_block(backend, x)
    a = backend.forward(model, x, train=True, seed=1)
    b = backend.forward(model, x, train=True, seed=2)
    assert not np.allclose(a, b)
    assert np.array_equal(backend.forward(model, x), backend.forward(model, x))


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_rates_outside_zero_one_are_rejected(backend, rate):
    with pytest.raises(ValueError, match=rf"dropout rate {rate} is outside \[0, 1\); expected 0 <= rate < 1"):
        backend.lib.BlockVer4(backend.lib.MultiHeadVer2(8, 32, 4), 32, rate)

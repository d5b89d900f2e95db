"""Dropout in train mode, checked on each backend by itself (the rngs differ by design), and where each of
BlockVer4's two dropouts sits. One branch is silenced through its weights (the feed-forward's last Linear, or
the attention's proj), so the block's output minus its input is exactly the other branch after its dropout:
drop1(attention(ln1(x))) or drop2(feed-forward(ln2(x))). Then a fraction ~rate of it is exactly zero, where
the output is exactly the input (the residual path is not dropped), and the rest is the eval-mode branch
/ (1 - rate). A missing, misplaced (after the sum) or swapped dropout fails one of these."""
import numpy as np
import pytest

RATE = 0.3
SILENCE = {"attention": ("ffwd.net.2.weight", "ffwd.net.2.bias"),  # the branch left is drop1's
           "feed-forward": ("head.proj.weight", "head.proj.bias")}  # the branch left is drop2's


def dropout_block(backend, x, branch: str = "attention"):
    model = backend.create(lambda lib: lib.BlockVer4(lib.MultiHeadVer2(8, 32, 4), 32, RATE), example=x, seed=0)
    weights = {k: v.copy() for k, v in backend.get_weights(model).items()}
    for key in SILENCE[branch]:
        weights[key] = np.zeros_like(weights[key])
    backend.set_weights(model, weights)
    return model


@pytest.mark.parametrize("branch", list(SILENCE))
def test_each_dropout_drops_its_branch_and_rescales_survivors(backend, branch):
    x = np.random.default_rng(0).standard_normal((64, 8, 32)).astype(np.float32)
    model = dropout_block(backend, x, branch)
    branch_eval = backend.forward(model, x, train=False) - x  # (B, T, C)
    branch_train = backend.forward(model, x, train=True, seed=1) - x  # (B, T, C)
    assert np.abs(branch_eval).min() > 0 or np.mean(branch_eval == 0) < 1e-3, "the branch is silent in eval mode"
    dropped = branch_train == 0.0  # output == input exactly: the branch was dropped, the residual was not
    n = dropped.size
    sigma = np.sqrt(RATE * (1 - RATE) / n)
    print(f"[{backend}] {branch} branch: fraction zeroed {dropped.mean():.4f} (rate {RATE}, 4 sigma = {4 * sigma:.4f})")
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

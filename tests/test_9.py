"""test_9 (Team 3): why LayerNorm? Asked of both backends.

Run as the seed says: `pytest tests/test_9.py -s -vv` (`-s` prints the per-seed numbers).
`LEARNGPT_PROFILE=full` trains with the seed's config exactly; see parity/questions.py for the profiles.
"""
import pytest

from parity import questions

# Measured (default profile, 3 seeds x 400 steps, 5 blocks of the seed's width 16): the LayerNorm stack
# does not win yet. Flax mean val loss 5xBlockVer3 2.6493 vs 5xBlockVer2 2.6389 (seeds 0/1/2:
# 2.6806/2.6213/2.6459 vs 2.6674/2.6119/2.6376): behind on every seed, by ~0.01.
LAYER_NORM_SHORT = pytest.mark.xfail(
    questions.profile().name == "default", strict=True,
    reason="default profile (400 steps): 5xBlockVer3 mean val 2.6493 >= 5xBlockVer2 2.6389 (flax, seeds 0-2); "
           "five residual blocks of width 16 train well without LayerNorm this early")


def test_layer_norm_features_dim_is_properly_normalized(backend):
    """The curriculum's LayerNorm(512) on standard-normal (64, 512): every row's mean rounds to 0 and its
    variance to 1 at 4 decimals (variance unbiased, as the curriculum's std; the eps makes it 1 - 2e-6)."""
    result = questions.layer_norm_normalizes(backend)
    print(result)
    assert result.numbers["max |row mean|"][0] < 5e-5 and result.numbers["max |row var - 1|"][0] < 5e-5


def test_layer_norm_mitigates_vanishing_gradient(backend):
    """Standard-normal (3, 64, 128) through 1000 freshly initialised Linear(128, 128), nothing kept for
    gradients between layers: without LayerNorm every activation rounds to 0 (each layer keeps about a
    third of the variance; what is left is the biases' noise, std ~0.07); with the curriculum's LayerNorm
    after each layer they do not (std ~1)."""
    result = questions.vanishing(backend)
    print(result)
    assert result.numbers["share rounding to 0 without"][0] == 1.0, result.claim
    assert result.numbers["share rounding to 0 with"][0] < 1.0, result.claim


@LAYER_NORM_SHORT
def test_layer_norm_helps_when_network_is_deep(backend, corpus):
    """n_layers (5) x BlockVer3 (pre-norm LayerNorm) end with a lower mean validation loss than
    5 x BlockVer2 (residuals only).

    Seed's config otherwise. Default profile: 3 seeds x 400 steps, 50 evaluation batches (full: 5000
    steps, 200); the 5 x BlockVer2 runs are shared with test_8's residual question."""
    result = questions.layer_norm_helps(backend, questions.profile(), corpus)
    print(result)
    assert result.mean("5xBlockVer3") < result.mean("5xBlockVer2"), result.claim

"""test_9 (Team 3): why LayerNorm? Asked of both backends.

Run as the seed says: `pytest tests/test_9.py -s -vv` (`-s` prints the per-seed numbers).
`LEARNGPT_PROFILE=full` trains with the seed's config exactly; see parity/questions.py for the profiles.
"""
import pytest

from parity import questions

# Measured with 3 seeds, 5 blocks of the seed's width 16, mean val loss 5xBlockVer3 vs 5xBlockVer2:
#   default (400 steps, 50 evaluation batches):
#     torch 2.6602 vs 2.6398; flax 2.6493 vs 2.6389 (2.6806/2.6213/2.6459 vs 2.6674/2.6119/2.6376)
#   full, the seed's config exactly (5000 steps, 200 evaluation batches), `learngpt questions --profile full`:
#     torch 2.2249 vs 2.2093 (seeds 0/1/2: 2.2316/2.2238/2.2193 vs 2.2200/2.2005/2.2073)
#     flax  2.2084 vs 2.2042 (2.2144/2.2080/2.2028 vs 2.2062/2.2042/2.2020)
# LayerNorm is behind on every seed, on both backends, in both profiles: at the seed's depth it does not beat
# residuals alone. Strict in both profiles, so that the day it does, the suite says so.
LAYER_NORM_AT_SEED_DEPTH = pytest.mark.xfail(
    strict=True,
    reason="5xBlockVer3 does not beat 5xBlockVer2 at the seed's depth and width (mean val over seeds 0-2): "
           "torch 2.6602 >= 2.6398, flax 2.6493 >= 2.6389 after 400 steps (default profile); "
           "torch 2.2249 >= 2.2093, flax 2.2084 >= 2.2042 after 5000 steps (full profile, the seed's config)")


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


@LAYER_NORM_AT_SEED_DEPTH
def test_layer_norm_helps_when_network_is_deep(backend, corpus):
    """n_layers (5) x BlockVer3 (pre-norm LayerNorm) end with a lower mean validation loss than
    5 x BlockVer2 (residuals only).

    Seed's config otherwise. Default profile: 3 seeds x 400 steps, 50 evaluation batches (full: 5000
    steps, 200); the 5 x BlockVer2 runs are shared with test_8's residual question."""
    result = questions.layer_norm_helps(backend, questions.profile(), corpus)
    print(result)
    assert result.mean("5xBlockVer3") < result.mean("5xBlockVer2"), result.claim

"""test_9 (Team 3): why LayerNorm? Asked of both backends.

Run as the seed says: `pytest tests/test_9.py -s -vv` (`-s` prints the per-seed numbers).
`LEARNGPT_PROFILE=full` trains with the seed's config exactly; see parity/questions.py for the profiles.
"""
import pytest

from parity import questions

# Measured on flax, 3 seeds, 5 blocks of the seed's width 16, mean val loss 5xBlockVer3 vs 5xBlockVer2:
#   default (400 steps): 2.6493 vs 2.6389 (seeds 0/1/2: 2.6806/2.6213/2.6459 vs 2.6674/2.6119/2.6376), behind on
#   every seed; full length (5000 steps): 2.2010 vs 2.2002 (2.2060/2.2068/2.1901 vs 2.1927/2.2058/2.2021), a tie.
# At the seed's depth LayerNorm does not (yet) beat residuals alone: strict where it reliably loses (default);
# in the full profile a tie within 0.001 can fall either way, so there the mark cannot be strict.
LAYER_NORM_AT_SEED_DEPTH = pytest.mark.xfail(
    strict=questions.profile().name == "default",
    reason="5xBlockVer3 does not beat 5xBlockVer2 at the seed's depth and width: mean val 2.6493 >= 2.6389 "
           "after 400 steps (default), 2.2010 vs 2.2002 after 5000 steps (flax, seeds 0-2)")


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

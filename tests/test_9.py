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


@LAYER_NORM_AT_SEED_DEPTH
def test_layer_norm_helps_when_network_is_deep(backend, corpus):
    """n_layers (5) x BlockVer3 (pre-norm LayerNorm) end with a lower mean validation loss than
    5 x BlockVer2 (residuals only).

    Seed's config otherwise. Default profile: 3 seeds x 400 steps, 50 evaluation batches (full: 5000
    steps, 200); the 5 x BlockVer2 runs are shared with test_8's residual question."""
    result = questions.layer_norm_helps(backend, questions.profile(), corpus)
    print(result)
    assert result.mean("5xBlockVer3") < result.mean("5xBlockVer2"), result.claim

"""test_9 (Team 3): why LayerNorm? Asked of both backends.

Run as `pytest tests/test_9.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name: the experiment, the claim and its bound are in
learngpt_lab/questions/week2.py.
`LEARNGPT_PROFILE=full` trains with the seed's config (5000 steps, 200 evaluation batches).
"""
import pytest

from learngpt_lab.questions import ClaimDoesNotHold, profile


def test_layer_norm_features_dim_is_properly_normalized(answer):
    answer.check()


def test_layer_norm_mitigates_vanishing_gradient(answer):
    answer.check()


# Measured, 3 seeds, 5 blocks of the seed's width 16: mean val loss 5xBlockVer3 minus 5xBlockVer2 (per seed in
# docs/answers.md), default profile (400 steps): torch +0.0202, flax +0.0106; full profile (5000 steps): torch
# +0.0156, flax +0.0042. LayerNorm is behind on the mean at the seed's depth, on both backends. The test also
# fails, as a bug rather than an expected failure, when an arm did not learn (learngpt_lab/questions/
# training.py's guards) or when the gap leaves the band below: a broken BlockVer3 cannot pass as "no".
LAYER_NORM_GAP = {"default": {"torch": (0.0, 0.06), "flax": (0.0, 0.05), "nnx": (0.0, 0.05)},
                  "full": {"torch": (0.0, 0.05), "flax": (0.0, 0.03), "nnx": (0.0, 0.03)}}


@pytest.mark.slow  # 5 blocks x 400 steps x 3 seeds x 2 arms (pytest -m slow)
@pytest.mark.xfail(condition=profile().name in LAYER_NORM_GAP, strict=True, raises=ClaimDoesNotHold, reason=(
    "5xBlockVer3 does not beat 5xBlockVer2 at the seed's depth and width (mean val over seeds 0-2): "
    "torch 2.6600 >= 2.6398, flax 2.6493 >= 2.6387 after 400 steps (default profile); torch 2.2249 >= 2.2093, "
    "flax 2.2084 >= 2.2042 after 5000 steps (full profile). It does at 40 blocks: the next test."))
def test_layer_norm_helps_when_network_is_deep(answer):
    answer.check(gap_band=LAYER_NORM_GAP)


@pytest.mark.slow
def test_layer_norm_helps_when_network_is_deeper(answer):
    answer.check()

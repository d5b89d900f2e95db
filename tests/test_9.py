"""test_9 (Team 3): why LayerNorm? Asked of both backends.

Run as `pytest tests/test_9.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name, and its docstring shows that question's experiment: what it compares, with
what, the claim and the bound (the default profile's, then what the other profiles change), as
learngpt_lab/questions/week2.py defines it (tests/unit/test_question_files.py fails when they differ).
`LEARNGPT_PROFILE=full` trains with the seed's config (5000 steps, 200 evaluation batches).
"""
import pytest

from learngpt_lab.questions import ClaimDoesNotHold, profile


def test_layer_norm_features_dim_is_properly_normalized(answer):
    """Compares: each row's mean and (unbiased) variance of the curriculum's LayerNorm(512)'s output
    With: standard-normal input of shape (64, 512), float32
    Claim: every row has mean 0 and variance 1
    Bound: |mean| <= 1e-5 and |var - 1| <= 1e-5 (the eps makes the variance 1 - 2e-6)"""
    answer.check()


def test_layer_norm_mitigates_vanishing_gradient(answer):
    """Compares: the activations after 1000 freshly initialised Linear(128, 128) vs after 1000 x (the same Linear,
        then LayerNorm(128))
    With: standard-normal input of shape (3, 64, 128), float32, no gradient kept between layers
    Claim: without LayerNorm every activation rounds to 0; with it every row still has (unbiased) variance 1
    Bound: |row var - 1| <= 1e-4 with LayerNorm"""
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
    """Compares: 5xBlockVer3 = GPTVer4(5 x BlockVer3) vs 5xBlockVer2 = GPTVer4(5 x BlockVer2)
    With: 400 AdamW steps at lr 1e-3, batch 32, block_size 8, embed_size 16, 8 heads, on the whole training split;
        seeds 0, 1, 2; 50 evaluation batches per split for the final val loss
    Claim: 5xBlockVer3's mean val loss below 5xBlockVer2's, and lower on most seeds
    Bound: guard: every arm learned (mean val loss at least 0.1 nats under the corpus's unigram baseline)
    LEARNGPT_PROFILE=full: with 5000 AdamW steps at lr 1e-3, 200 evaluation batches per split for the final val
        loss
    LEARNGPT_PROFILE=seed: compares 10xBlockVer3PostNorm = GPTVer4(10 x BlockVer3PostNorm) vs 10xBlockVer2 =
        GPTVer4(10 x BlockVer2); with 5000 AdamW steps at lr 1e-3, 200 evaluation batches per split for the final
        val loss; claim 10xBlockVer3PostNorm's mean val loss below 10xBlockVer2's"""
    answer.check(gap_band=LAYER_NORM_GAP)


@pytest.mark.slow
def test_layer_norm_helps_when_network_is_deeper(answer):
    """Compares: 40xBlockVer3 = GPTVer4(40 x BlockVer3) vs 40xBlockVer2 = GPTVer4(40 x BlockVer2)
    With: 200 AdamW steps at lr 1e-3, batch 32, block_size 8, embed_size 16, 8 heads, on the whole training split;
        seeds 0, 1, 2; 50 evaluation batches per split for the final val loss
    Claim: 40xBlockVer3's mean val loss below 40xBlockVer2's, and lower on most seeds
    Bound: guard: 40xBlockVer3 learned (mean val loss at least 0.1 nats under the corpus's unigram baseline)
    LEARNGPT_PROFILE=full: with 400 AdamW steps at lr 1e-3, 200 evaluation batches per split for the final val
        loss
    LEARNGPT_PROFILE=seed: with 400 AdamW steps at lr 1e-3, 200 evaluation batches per split for the final val
        loss"""
    answer.check()

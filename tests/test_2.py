"""test_2 (week 1): HeadVer1, the running mean as a loop, and GPTVer2 around it. Asked of both backends.

Run as `pytest tests/test_2.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name, and its docstring shows that question's experiment: what it compares, with
what, the claim and the bound (the default profile's, then what the other profiles change), as
learngpt_lab/questions/week1.py defines it (tests/unit/test_question_files.py fails when they differ).
Training: week 1's setup.
"""
import pytest

from learngpt_lab.questions import ClaimDoesNotHold, profile


def test_head_ver_1_averages_the_past(answer):
    """Compares: HeadVer1's output vs the running mean written out
    With: the input [[1,2,3],[4,5,6],[7,8,9]] (one sequence of 3 tokens, 3 features), float32
    Claim: HeadVer1 gives [[1,2,3],[2.5,3.5,4.5],[4,5,6]]
    Bound: max abs difference < 1e-6"""
    answer.check()


# Measured, 3 seeds: mean val loss GPTVer2(HeadVer1) minus GPTVer1, default profile (500 steps, lr 1e-2): torch
# +0.266, flax +0.269; full profile (5000 steps): torch +0.358, flax +0.359. The test fails as a bug, not as the
# expected "no", when an arm did not learn or the gap leaves this band.
HEAD_V1_GAP = {"default": {"torch": (0.15, 0.40), "flax": (0.15, 0.40), "nnx": (0.15, 0.40)},
               "full": {"torch": (0.25, 0.50), "flax": (0.25, 0.50), "nnx": (0.25, 0.50)}}


@pytest.mark.xfail(condition=profile().name in HEAD_V1_GAP, strict=True, raises=ClaimDoesNotHold, reason=(
    "measured: GPTVer2(HeadVer1) does not beat the bigram. Mean final val loss over seeds 0-2, 500 steps, "
    "lr 1e-2: torch 2.866 vs bigram 2.600, flax 2.871 vs 2.602 (per seed in docs/week1.md). The uniform "
    "average blurs the last token, the bigram's whole signal, with every earlier one."))
def test_gpt_ver_2_with_head_ver_1_beats_the_bigram(answer):
    """Compares: GPTVer2(HeadVer1) vs GPTVer1
    With: 500 AdamW steps at lr 0.01, batch 32, block_size 8, embed_size 16, 8 heads, on the whole training split;
        seeds 0, 1, 2; 50 evaluation batches per split for the final val loss
    Claim: GPTVer2(HeadVer1)'s mean val loss below GPTVer1's, and lower on most seeds
    Bound: guard: every arm learned (mean val loss at least 0.1 nats under the corpus's unigram baseline)
    LEARNGPT_PROFILE=full: with 5000 AdamW steps at lr 0.01, 200 evaluation batches per split for the final val
        loss
    LEARNGPT_PROFILE=seed: with 5000 AdamW steps at lr 1e-3, embed_size 32, 200 evaluation batches per split for
        the final val loss"""
    answer.check(gap_band=HEAD_V1_GAP)

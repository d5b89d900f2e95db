"""test_10 (Team 4): why dropout? Asked of both backends.

Run as `pytest tests/test_10.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name, and its docstring shows that question's experiment: what it compares, with
what, the claim and the bound (the default profile's, then what the other profiles change), as
learngpt_lab/questions/week2.py defines it (tests/unit/test_question_files.py fails when they differ).
`LEARNGPT_PROFILE=full` trains with the seed's config (5000 steps, 200 evaluation batches).
"""
import pytest


def test_block_ver_4_output_is_always_different_in_train_mode(answer):
    """Compares: the outputs of 4 calls in train mode of one BlockVer4(MultiHeadVer1(64, 512, 8), 512, 0.1), each
        with its own dropout seed
    With: the same standard-normal input of shape (32, 64, 512), float32
    Claim: consecutive outputs differ
    Bound: max abs difference > 0"""
    answer.check()


def test_block_ver_4_output_is_always_the_same_in_eval_mode(answer):
    """Compares: the outputs of 4 calls in eval mode of one BlockVer4(MultiHeadVer1(64, 512, 8), 512, 0.1), each with
        its own dropout seed
    With: the same standard-normal input of shape (32, 64, 512), float32
    Claim: all outputs are equal
    Bound: exact: max abs difference == 0"""
    answer.check()


@pytest.mark.slow  # 5 blocks x 800 steps x 3 seeds x 2 arms: the longest question (pytest -m slow)
def test_dropout_helps(answer):
    """Compares: 5xBlockVer4 = GPTVer4(5 x BlockVer4) vs 5xBlockVer3 = GPTVer4(5 x BlockVer3)
    With: 800 AdamW steps at lr 1e-3, batch 32, block_size 8, embed_size 16, 8 heads, dropout 0.05, on the first
        2,000 training characters; seeds 0, 1, 2; 50 evaluation batches per split for the final val loss and train
        loss
    Claim: 5xBlockVer4's mean val loss below 5xBlockVer3's, and lower on most seeds; and 5xBlockVer3's mean train
        loss below 5xBlockVer4's, and lower on most seeds
    Bound: guard: every arm learned (mean train loss at least 0.1 nats under the corpus's unigram baseline)
    LEARNGPT_PROFILE=full: with 5000 AdamW steps at lr 1e-3, 200 evaluation batches per split for the final val
        loss and train loss
    LEARNGPT_PROFILE=seed: compares 1xBlockVer4 = GPTVer4(1 x BlockVer4) vs 1xBlockVer3 = GPTVer4(1 x BlockVer3);
        with 10000 AdamW steps at lr 5e-3, dropout 0.1, on the first 1,003 training characters, 200 evaluation
        batches per split for the final val loss and train loss; claim 1xBlockVer4's mean val loss below
        1xBlockVer3's, and 1xBlockVer3's mean train loss below 1xBlockVer4's"""
    answer.check()

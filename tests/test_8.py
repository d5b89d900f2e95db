"""test_8 (Team 2): why a feed-forward, why residual connections? Asked of both backends.

Run as `pytest tests/test_8.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name, and its docstring shows that question's experiment: what it compares, with
what, the claim and the bound (the default profile's, then what the other profiles change), as
learngpt_lab/questions/week2.py defines it (tests/unit/test_question_files.py fails when they differ).
`LEARNGPT_PROFILE=full` trains with the seed's config (5000 steps, 200 evaluation batches).
"""
import pytest


@pytest.mark.slow  # 3 seeds x 2 arms x 500 steps
def test_ffn_helps(answer):
    """Compares: BlockVer1 = GPTVer4(1 x BlockVer1) vs MultiHeadVer2 = GPTVer4(MultiHeadVer2)
    With: 500 AdamW steps at lr 1e-3, batch 32, block_size 8, embed_size 16, 8 heads, on the whole training split;
        seeds 0, 1, 2; 50 evaluation batches per split for the final val loss
    Claim: BlockVer1's mean val loss below MultiHeadVer2's, and lower on most seeds
    Bound: guard: every arm learned (mean val loss at least 0.1 nats under the corpus's unigram baseline)
    LEARNGPT_PROFILE=full: with 5000 AdamW steps at lr 1e-3, 200 evaluation batches per split for the final val
        loss
    LEARNGPT_PROFILE=seed: with 5000 AdamW steps at lr 1e-3, 200 evaluation batches per split for the final val
        loss"""
    answer.check()


@pytest.mark.slow  # 5 blocks x 400 steps x 3 seeds x 2 arms
def test_residual_conn_helps_when_network_is_deep(answer):
    """Compares: 5xBlockVer2 = GPTVer4(5 x BlockVer2) vs 5xBlockVer1 = GPTVer4(5 x BlockVer1)
    With: 400 AdamW steps at lr 1e-3, batch 32, block_size 8, embed_size 16, 8 heads, on the whole training split;
        seeds 0, 1, 2; 50 evaluation batches per split for the final val loss
    Claim: 5xBlockVer2's mean val loss below 5xBlockVer1's, and lower on most seeds
    Bound: guard: 5xBlockVer2 learned (mean val loss at least 0.1 nats under the corpus's unigram baseline)
    LEARNGPT_PROFILE=full: with 5000 AdamW steps at lr 1e-3, 200 evaluation batches per split for the final val
        loss
    LEARNGPT_PROFILE=seed: compares 10xBlockVer2 = GPTVer4(10 x BlockVer2) vs 10xBlockVer1 = GPTVer4(10 x
        BlockVer1); with 5000 AdamW steps at lr 1e-3, 200 evaluation batches per split for the final val loss;
        claim 10xBlockVer2's mean val loss below 10xBlockVer1's; bound guard: 10xBlockVer2 learned (mean val loss
        at least 0.1 nats under the corpus's unigram baseline)"""
    answer.check()

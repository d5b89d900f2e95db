"""test_7 (Team 1): why more than one head? Asked of both backends.

Run as `pytest tests/test_7.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name, and its docstring shows that question's experiment: what it compares, with
what, the claim and the bound (the default profile's, then what the other profiles change), as
learngpt_lab/questions/week2.py defines it (tests/unit/test_question_files.py fails when they differ).
`LEARNGPT_PROFILE=full` trains with the seed's config (5000 steps, 200 evaluation batches).
"""
import pytest


def test_head_ver_4_and_multi_head_ver_1_are_equally_expensive(answer):
    """Compares: the trainable parameters of MultiHeadVer1's heads vs one HeadVer4 with head_size = embed_size
    With: the curriculum's config: block_size 8, embed_size 16, 8 heads of head_size 2
    Claim: equal counts (3 x C x C)
    Bound: exact: integer parameter counts"""
    answer.check()


@pytest.mark.slow  # 5 seeds x 2 arms x 500 steps
def test_multi_head_helps(answer):
    """Compares: MultiHeadVer1 = GPTVer4(MultiHeadVer1) vs HeadVer4 = GPTVer4(HeadVer4)
    With: 500 AdamW steps at lr 1e-3, batch 32, block_size 8, embed_size 16, 8 heads, on the whole training split;
        seeds 0, 1, 2, 3, 4; 50 evaluation batches per split for the final val loss
    Claim: MultiHeadVer1's mean val loss below HeadVer4's, and lower on most seeds
    Bound: guard: every arm learned (mean val loss at least 0.1 nats under the corpus's unigram baseline)
    LEARNGPT_PROFILE=full: with 200 evaluation batches per split for the final val loss
    LEARNGPT_PROFILE=seed: with 200 evaluation batches per split for the final val loss"""
    answer.check()


def test_multi_head_ver_2_is_faster_than_ver_1(answer):
    """Compares: forward time of MultiHeadVer1 vs MultiHeadVer2 (v1/v2, the median of paired runs)
    With: B, T, C = 32, 8, 64 with 8 heads, standard-normal input; 5 rounds of 10 forward calls, in turn, in a
        fresh process on one thread; op by op (torch eager, JAX without jit) and, on flax and nnx, jitted
    Claim: op by op MultiHeadVer2 is faster; jitted, the compiler erases most of the difference
    Bound: op by op v1/v2 >= 1.5; jitted v1/v2 in [0.5, op by op / 1.5]"""
    answer.check()


def test_multi_head_ver_1_and_multi_head_ver_2_are_logically_equal(answer):
    """Compares: MultiHeadVer1's output vs MultiHeadVer2's, v2 loaded with v1's weights
    With: B, T, C = 1, 3, 8 with 4 heads, standard-normal input, float32
    Claim: the same outputs
    Bound: max abs difference < 1e-6"""
    answer.check()

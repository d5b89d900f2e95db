"""test_5 (week 1): self-attention, HeadVer4, and GPTVer2 around it. Asked of both backends.

Run as `pytest tests/test_5.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name, and its docstring shows that question's experiment: what it compares, with
what, the claim and the bound (the default profile's, then what the other profiles change), as
learngpt_lab/questions/week1.py defines it (tests/unit/test_question_files.py fails when they differ).
Training: week 1's setup.
"""


def test_head_ver_4_has_no_notion_of_position(answer):
    """Compares: HeadVer4(8, 16, 16)'s outputs before and after swapping the first two tokens: the last output (whose
        context holds the same tokens) and the first (whose context changed)
    With: standard-normal input of shape (4, 8, 16), float32, init seed 0
    Claim: the last output does not move; the first does
    Bound: last moves <= 1e-6; first moves > 1e-3"""
    answer.check()


def test_head_ver_4_weights_are_masked_and_normalised(answer):
    """Compares: HeadVer4(8, 16, 16)'s attention weights (read from the head: torch attribute, Flax sow): each row's
        sum, and every weight on a later position
    With: standard-normal input of shape (4, 8, 16), float32
    Claim: every row sums to 1; every future weight is exactly 0
    Bound: |row sum - 1| <= 1e-6; future weights exact"""
    answer.check()


def test_scaled_scores_have_unit_variance(answer):
    """Compares: var(q k^T / sqrt(C)) of HeadVer4(128, 1024, 1024) whose key map is the identity and query map a
        signed cyclic shift (q, k standard normal, no product pairing a number with itself)
    With: standard-normal input of shape (4, 128, 1024), float32
    Claim: the scaled scores have variance 1
    Bound: |var - 1| <= SCORE_VARIANCE_BOUND = 0.03 (six standard deviations of the statistic over input draws)"""
    answer.check()


def test_gpt_ver_2_with_head_ver_4_trains(answer):
    """Compares: GPTVer2(HeadVer4) vs GPTVer2(HeadVer1) vs GPTVer1
    With: 500 AdamW steps at lr 0.01, batch 32, block_size 8, embed_size 16, 8 heads, on the whole training split;
        seeds 0, 1, 2; 50 evaluation batches per split for the final val loss
    Claim: GPTVer2(HeadVer4)'s mean val loss below GPTVer2(HeadVer1)'s, and lower on most seeds
    Bound: guard: every arm learned (mean val loss at least 0.1 nats under the corpus's unigram baseline)
    LEARNGPT_PROFILE=full: with 5000 AdamW steps at lr 0.01, 200 evaluation batches per split for the final val
        loss
    LEARNGPT_PROFILE=seed: with 5000 AdamW steps at lr 1e-3, embed_size 32, 200 evaluation batches per split for
        the final val loss"""
    answer.check()

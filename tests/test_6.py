"""test_6 (week 1): word order, the four position encodings, and GPTVer3. Asked of both backends.

Run as `pytest tests/test_6.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name, and its docstring shows that question's experiment: what it compares, with
what, the claim and the bound (the default profile's, then what the other profiles change), as
learngpt_lab/questions/week1.py defines it (tests/unit/test_question_files.py fails when they differ).
Training: week 1's setup.
"""


def test_word_order_is_lost_without_positions(answer):
    """Compares: the logits of GPTVer1 and of GPTVer2(HeadVer1) at every position vs at the first
    With: token 5 repeated 8 times (the curriculum's config, init seed 0)
    Claim: identical logits at every position
    Bound: max abs difference <= 1e-5"""
    answer.check()


def test_position_encodings_properties(answer):
    """Compares: the four position encodings v1-v4 (the backend's PositionalEncoding on x = 0) against the four
        properties: distinct, bounded, length_independent, equally_spaced
    With: sequence lengths 8 and 16, embed_size 16
    Claim: v1 not bounded; v2 not length_independent; v3 not equally_spaced; v4 has all four
    Bound: exact: each property measured yes or no (learngpt.positions.properties)"""
    answer.check()


def test_gpt_ver_3_logits_differ_by_position(answer):
    """Compares: the logits of GPTVer3(HeadVer4) at every two positions
    With: token 5 repeated 8 times (the curriculum's config, init seed 0)
    Claim: every two positions' logits differ
    Bound: min over position pairs of max abs difference > 1e-3"""
    answer.check()


def test_gpt_ver_3_with_head_ver_4_trains(answer):
    """Compares: GPTVer3(HeadVer4) vs GPTVer2(HeadVer4) vs GPTVer1
    With: 500 AdamW steps at lr 0.01, batch 32, block_size 8, embed_size 16, 8 heads, on the whole training split;
        seeds 0, 1, 2; 50 evaluation batches per split for the final val loss
    Claim: GPTVer3(HeadVer4)'s mean val loss below GPTVer1's, and lower on most seeds; and GPTVer3(HeadVer4)'s
        mean val loss below GPTVer2(HeadVer4)'s, and lower on most seeds
    Bound: guard: every arm learned (mean val loss at least 0.1 nats under the corpus's unigram baseline)
    LEARNGPT_PROFILE=full: with 5000 AdamW steps at lr 0.01, 200 evaluation batches per split for the final val
        loss
    LEARNGPT_PROFILE=seed: with 5000 AdamW steps at lr 1e-3, embed_size 32, 200 evaluation batches per split for
        the final val loss"""
    answer.check()

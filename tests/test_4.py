"""test_4 (week 1): HeadVer3, the running mean as a masked softmax of zeros. Asked of both backends.

Run as `pytest tests/test_4.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name, and its docstring shows that question's experiment: what it compares, with
what, the claim and the bound (the default profile's, then what the other profiles change), as
learngpt_lab/questions/week1.py defines it (tests/unit/test_question_files.py fails when they differ).
"""


def test_head_ver_3_equals_head_ver_1(answer):
    """Compares: HeadVer3's output vs HeadVer1's (the loop)
    With: standard-normal input of shape (4, 8, 16) (the curriculum's block_size and embed_size), float32
    Claim: the same outputs
    Bound: max abs difference <= 1e-6"""
    answer.check()


def test_head_ver_3_is_faster_than_head_ver_1(answer):
    """Compares: forward time of HeadVer1 vs HeadVer3 (HeadVer1/HeadVer3, the median of paired runs)
    With: standard-normal input of shape (4, 128, 1024); 3 rounds of 10 forward calls, in turn, in a fresh process
        on one thread; torch eager, flax and nnx jitted
    Claim: HeadVer3 is faster
    Bound: HeadVer1/HeadVer3 > 1"""
    answer.check()


def test_head_ver_3_weights_sum_to_1_and_the_future_is_zero(answer):
    """Compares: HeadVer3's attention weights (read from the head: torch attribute, Flax sow): each row's sum, and
        every weight on a later position
    With: standard-normal input of shape (4, 8, 16), float32
    Claim: every row sums to 1; every future weight is exactly 0
    Bound: |row sum - 1| <= 1e-6; future weights exact"""
    answer.check()

"""test_4 (week 1): HeadVer3, the running mean as a masked softmax of zeros. Asked of both backends.

Run as `pytest tests/test_4.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name: the experiment, the claim and its bound are in
learngpt_lab/questions/week1.py.
"""


def test_head_ver_3_equals_head_ver_1(answer):
    answer.check()


def test_head_ver_3_is_faster_than_head_ver_1(answer):
    answer.check()


def test_head_ver_3_weights_sum_to_1_and_the_future_is_zero(answer):
    answer.check()

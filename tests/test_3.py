"""test_3 (week 1): HeadVer2, the running mean as one matmul. Asked of both backends.

Run as `pytest tests/test_3.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name: the experiment, the claim and its bound are in
learngpt_lab/questions/week1.py.
"""


def test_head_ver_2_equals_head_ver_1(answer):
    answer.check()


def test_head_ver_2_is_faster_than_head_ver_1(answer):
    answer.check()

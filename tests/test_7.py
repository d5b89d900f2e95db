"""test_7 (Team 1): why more than one head? Asked of both backends.

Run as `pytest tests/test_7.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name: the experiment, the claim and its bound are in
learngpt_lab/questions/week2.py.
`LEARNGPT_PROFILE=full` trains with the seed's config (5000 steps, 200 evaluation batches).
"""
import pytest


def test_head_ver_4_and_multi_head_ver_1_are_equally_expensive(answer):
    answer.check()


@pytest.mark.slow  # 5 seeds x 2 arms x 500 steps
def test_multi_head_helps(answer):
    answer.check()


def test_multi_head_ver_2_is_faster_than_ver_1(answer):
    answer.check()


def test_multi_head_ver_1_and_multi_head_ver_2_are_logically_equal(answer):
    answer.check()

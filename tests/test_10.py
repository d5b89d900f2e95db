"""test_10 (Team 4): why dropout? Asked of both backends.

Run as `pytest tests/test_10.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name: the experiment, the claim and its bound are in
learngpt_lab/questions/week2.py.
`LEARNGPT_PROFILE=full` trains with the seed's config (5000 steps, 200 evaluation batches).
"""
import pytest


def test_block_ver_4_output_is_always_different_in_train_mode(answer):
    answer.check()


def test_block_ver_4_output_is_always_the_same_in_eval_mode(answer):
    answer.check()


@pytest.mark.slow  # 5 blocks x 800 steps x 3 seeds x 2 arms: the longest question (pytest -m slow)
def test_dropout_helps(answer):
    answer.check()

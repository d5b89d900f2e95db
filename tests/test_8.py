"""test_8 (Team 2): why a feed-forward, why residual connections? Asked of both backends.

Run as `pytest tests/test_8.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name: the experiment, the claim and its bound are in
learngpt_lab/questions/week2.py.
`LEARNGPT_PROFILE=full` trains with the seed's config (5000 steps, 200 evaluation batches).
"""
import pytest


@pytest.mark.slow  # 3 seeds x 2 arms x 500 steps
def test_ffn_helps(answer):
    answer.check()


@pytest.mark.slow  # 5 blocks x 400 steps x 3 seeds x 2 arms
def test_residual_conn_helps_when_network_is_deep(answer):
    answer.check()

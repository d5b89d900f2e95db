"""test_5 (week 1): self-attention, HeadVer4, and GPTVer2 around it. Asked of both backends.

Run as `pytest tests/test_5.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name: the experiment, the claim and its bound are in
learngpt_lab/questions/week1.py.
Training: week 1's setup.
"""


def test_head_ver_4_has_no_notion_of_position(answer):
    answer.check()


def test_head_ver_4_weights_are_masked_and_normalised(answer):
    answer.check()


def test_scaled_scores_have_unit_variance(answer):
    answer.check()


def test_gpt_ver_2_with_head_ver_4_trains(answer):
    answer.check()

"""test_6 (week 1): word order, the four position encodings, and GPTVer3. Asked of both backends.

Run as `pytest tests/test_6.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name: the experiment, the claim and its bound are in
learngpt_lab/questions/week1.py.
Training: week 1's setup.
"""


def test_word_order_is_lost_without_positions(answer):
    answer.check()


def test_position_encodings_properties(answer):
    answer.check()


def test_gpt_ver_3_logits_differ_by_position(answer):
    answer.check()


def test_gpt_ver_3_with_head_ver_4_trains(answer):
    answer.check()

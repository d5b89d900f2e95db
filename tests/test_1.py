"""test_1 (week 1): the bigram model, GPTVer1. Asked of both backends.

Run as `pytest tests/test_1.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name: the experiment, the claim and its bound are in
learngpt_lab/questions/week1.py.
Training: week 1's setup (the seed's config with learning_rate 1e-2), 500 steps per run
(`LEARNGPT_PROFILE=full`: 5000), 3 seeds, the mean judged.
"""


def test_gpt_ver_1_beats_the_uniform_baseline(answer):
    answer.check()


def test_gpt_ver_1_generates_characters_from_the_vocabulary(answer):
    answer.check()

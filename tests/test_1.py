"""test_1 (week 1): the bigram model, GPTVer1. Asked of both backends.

Run as `pytest tests/test_1.py -s -vv` (`-s` prints the measured numbers, per seed). Each test
asks the question of its name, and its docstring shows that question's experiment: what it compares, with
what, the claim and the bound (the default profile's, then what the other profiles change), as
learngpt_lab/questions/week1.py defines it (tests/unit/test_question_files.py fails when they differ).
Training: week 1's setup (the seed's config with learning_rate 1e-2), 500 steps per run
(`LEARNGPT_PROFILE=full`: 5000), 3 seeds, the mean judged.
"""


def test_gpt_ver_1_beats_the_uniform_baseline(answer):
    """Compares: GPTVer1
    With: 500 AdamW steps at lr 0.01, batch 32, block_size 8, embed_size 16, 8 heads, on the whole training split;
        seeds 0, 1, 2; 50 evaluation batches per split for the final val loss
    Claim: GPTVer1's mean val loss at least 1 nat under ln(vocab size), a uniform guess's loss (ln 65 = 4.17 on
        tiny-shakespeare)
    Bound: the margin, 1 nat; guard: every arm learned (mean val loss at least 0.1 nats under the corpus's unigram
        baseline)
    LEARNGPT_PROFILE=full: with 5000 AdamW steps at lr 0.01, 200 evaluation batches per split for the final val
        loss
    LEARNGPT_PROFILE=seed: with 5000 AdamW steps at lr 1e-3, embed_size 32, 200 evaluation batches per split for
        the final val loss"""
    answer.check()


def test_gpt_ver_1_generates_characters_from_the_vocabulary(answer):
    """Compares: 200 characters sampled from a newline by GPTVer1 trained as in test_1 vs the same GPTVer1 untrained,
        scored by the corpus's own bigram statistics
    With: 500 AdamW steps at lr 0.01, embed_size 16; seeds 0, 1, 2
    Claim: exactly 200 new ids, each in the vocabulary; the trained sample likelier per character than the
        untrained one on every seed
    Bound: exact: the length, the range, and trained > untrained on each seed
    LEARNGPT_PROFILE=full: with 5000 AdamW steps at lr 0.01
    LEARNGPT_PROFILE=seed: with 5000 AdamW steps at lr 1e-3, embed_size 32"""
    answer.check()

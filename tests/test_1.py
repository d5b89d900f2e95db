"""test_1 (week 1): the bigram model, GPTVer1. Asked of both backends.

Run as `pytest tests/test_1.py -s -vv` (`-s` prints the measured numbers, per seed). Week 1's setup:
the seed's config with learning_rate 1e-2, 500 steps per run (`LEARNGPT_PROFILE=full`: 5000), 3 seeds,
the mean asserted; see parity/questions_week1.py.
"""
import math

from parity import questions, questions_week1 as week1


def test_gpt_ver_1_beats_the_uniform_baseline(backend, corpus):
    """GPTVer1 trained on tiny-shakespeare ends at least 1 nat under ln(vocab) = 4.17, the loss of a uniform
    guess (mean final validation loss over 3 seeds; same batches and evaluation batches on both backends)."""
    result = week1.bigram_beats_uniform(backend, questions.profile(), corpus)
    print(result)
    assert result.mean("GPTVer1") < math.log(corpus.tokenizer.vocab_size) - 1.0, result.claim


def test_gpt_ver_1_generates_characters_from_the_vocabulary(backend, corpus):
    """A trained GPTVer1 (seed 0) extends a newline by exactly 50 tokens, each an id of the vocabulary
    (so the text decodes); the sample is printed."""
    result = week1.bigram_generates(backend, questions.profile(), corpus)
    print(result)
    assert result.numbers["generated tokens"] == [50], result.claim
    assert result.holds, result.claim

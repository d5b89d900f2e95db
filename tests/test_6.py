"""test_6 (week 1): word order, the four position encodings, and GPTVer3. Asked of both backends.

Run as `pytest tests/test_6.py -s -vv`. Training: week 1's setup (parity/questions_week1.py).
"""
import pytest

from learngpt.positions import PROPERTIES, VERSIONS
from parity import questions, questions_week1 as week1


def test_word_order_is_lost_without_positions(backend):
    """For one token repeated block_size times, GPTVer1 and GPTVer2(HeadVer1) give the same logits at every
    position (within 1e-5): neither can tell where a token is."""
    result = week1.order_lost(backend)
    print(result)
    for label, values in result.numbers.items():
        assert values[0] <= 1e-5, f"{label}: {values[0]:.2e}"


def test_position_encodings_properties(backend):
    """Each encoding v1-v4, read from the backend's PositionalEncoding at sequence lengths 8 and 16, against
    the four properties (distinct positions; values in [-1, 1]; distances independent of the sequence length;
    equally spaced positions equally far apart): v1 is unbounded, v2 depends on the length, v3 is unevenly
    spaced, v4 has all four."""
    result = week1.encoding_properties(backend)
    print(result)
    for v in VERSIONS:
        for p in PROPERTIES:
            want = week1.EXPECTED_PROPERTIES[v][p]
            assert bool(result.numbers[f"v{v} {p}"][0]) == want, f"v{v} {p}: expected {want}"


def test_gpt_ver_3_logits_differ_by_position(backend):
    """GPTVer3(HeadVer4), token 5 repeated: every two positions' logits differ (max abs diff > 1e-3)."""
    result = week1.positions_break_the_tie(backend)
    print(result)
    assert result.holds, result.claim


def test_gpt_ver_3_with_head_ver_4_trains(backend, corpus):
    """GPTVer3 around HeadVer4 ends with a lower mean validation loss than the bigram and than GPTVer2
    around HeadVer4 (the same model without positions), after the same training (3 seeds)."""
    result = week1.gpt_v3_trains(backend, questions.profile(), corpus)
    print(result)
    assert result.mean("GPTVer3(HeadVer4)") < result.mean("GPTVer1"), result.claim
    assert result.mean("GPTVer3(HeadVer4)") < result.mean("GPTVer2(HeadVer4)"), result.claim

"""test_5 (week 1): self-attention, HeadVer4, and GPTVer2 around it. Asked of both backends.

Run as `pytest tests/test_5.py -s -vv`. Training: week 1's setup (parity/questions_week1.py).
"""
from parity import questions, questions_week1 as week1


def test_head_ver_4_has_no_notion_of_position(backend):
    """HeadVer4(8, 16, 16) on random (4, 8, 16): swapping the first two tokens leaves the last output
    unchanged (within 1e-6); the first output, whose context changed, moves."""
    result = week1.head_v4_no_position(backend)
    print(result)
    assert result.numbers["max |last output change|"][0] <= 1e-6, result.claim
    assert result.numbers["max |first output change|"][0] > 1e-3, result.claim


def test_head_ver_4_weights_are_masked_and_normalised(backend):
    """HeadVer4's attention weights (B, T, T): rows sum to 1 within 1e-6, future weights exactly 0.0."""
    result = week1.head_v4_weights(backend)
    print(result)
    assert result.numbers["max |row sum - 1|"][0] <= 1e-6, result.claim
    assert result.numbers["max |future weight|"][0] == 0.0, result.claim


def test_scaled_scores_have_unit_variance(backend):
    """q, k standard normal of shape (4, 128, 1024) (HeadVer4 with an identity key map and a signed cyclic
    shift as query map, on N(0, 1) input): the variance of the scaled scores q k^T / sqrt(1024) rounds to 1."""
    result = week1.scaled_score_variance(backend)
    print(result)
    assert round(result.numbers["var(q k^T / sqrt(C))"][0]) == 1, result.claim


def test_gpt_ver_2_with_head_ver_4_trains(backend, corpus):
    """GPTVer2 around HeadVer4 (head_size = embed_size) ends with a lower mean validation loss than GPTVer2
    around HeadVer1 after the same training: learned weights beat the uniform average (3 seeds)."""
    result = week1.gpt_v2_head_v4_trains(backend, questions.profile(), corpus)
    print(result)
    assert result.mean("GPTVer2(HeadVer4)") < result.mean("GPTVer2(HeadVer1)"), result.claim

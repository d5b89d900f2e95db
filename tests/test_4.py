"""test_4 (week 1): HeadVer3, the running mean as a masked softmax of zeros. Asked of both backends.

Run as `pytest tests/test_4.py -s -vv`.
"""
from parity import questions_week1 as week1


def test_head_ver_3_equals_head_ver_1(backend):
    """On random (4, 8, 16) input HeadVer3 and HeadVer1 agree to 1e-6 (float32)."""
    result = week1.head_v3_equal(backend)
    print(result)
    assert result.numbers["max |HeadVer3 - HeadVer1|"][0] <= 1e-6, result.claim


def test_head_ver_3_is_faster_than_head_ver_1(backend):
    """Random (4, 128, 1024), 10 forward calls each: HeadVer3 takes less time (torch eager, Flax jitted;
    HeadVer1's time is measured once per backend and shared with test_3)."""
    result = week1.head_v3_faster(backend)
    print(result)
    assert result.numbers["HeadVer3 s"][0] < result.numbers["HeadVer1 s"][0], result.claim


def test_head_ver_3_weights_sum_to_1_and_the_future_is_zero(backend):
    """HeadVer3's exposed weights (torch attribute, Flax sow): every row sums to 1 within 1e-6, and every
    weight on a future position is exactly 0.0."""
    result = week1.head_v3_weights(backend)
    print(result)
    assert result.numbers["max |row sum - 1|"][0] <= 1e-6, result.claim
    assert result.numbers["max |future weight|"][0] == 0.0, result.claim

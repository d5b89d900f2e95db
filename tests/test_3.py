"""test_3 (week 1): HeadVer2, the running mean as one matmul. Asked of both backends.

Run as `pytest tests/test_3.py -s -vv`.
"""
from parity import questions_week1 as week1


def test_head_ver_2_equals_head_ver_1(backend):
    """On random (4, 8, 16) input HeadVer2 and HeadVer1 agree to 1e-6 (float32)."""
    result = week1.head_v2_equal(backend)
    print(result)
    assert result.numbers["max |HeadVer2 - HeadVer1|"][0] <= 1e-6, result.claim


def test_head_ver_2_is_faster_than_head_ver_1(backend):
    """Random (4, 128, 1024), 10 forward calls each: HeadVer2 takes less time. torch eager; Flax jitted and
    compiled before the clock starts (op by op, each of HeadVer1's 128 slice lengths is a new shape that JAX
    compiles a kernel for, so un-jitted Flax mostly measures compilation)."""
    result = week1.head_v2_faster(backend)
    print(result)
    assert result.numbers["HeadVer2 s"][0] < result.numbers["HeadVer1 s"][0], result.claim

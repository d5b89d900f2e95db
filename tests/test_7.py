"""test_7 (Team 1): why more than one head? The seed's questions, asked of both backends.

Run as the seed says: `pytest tests/test_7.py -s -vv` (`-s` prints the measured numbers, per seed).
`LEARNGPT_PROFILE=full` trains with the seed's config exactly; see parity/questions.py for the profiles.
"""
from parity import questions


def test_head_ver_4_and_multi_head_ver_1_are_equally_expensive(backend):
    """With the config's block_size, embed_size and n_heads, MultiHeadVer1's heads hold exactly the
    trainable parameters of one HeadVer4 with head_size = embed_size (3 x C x C)."""
    result = questions.equally_expensive(backend)
    print(result)
    assert result.numbers["MultiHeadVer1 heads' params"] == result.numbers["HeadVer4(head_size=embed_size) params"]


def test_multi_head_helps(backend, corpus):
    """GPTVer4 around MultiHeadVer1 ends with a lower mean validation loss than GPTVer4 around one
    HeadVer4(head_size=embed_size), after the same training (same batches, same evaluation batches).

    Seed's config otherwise. Default profile: 3 seeds x 500 steps, 50 evaluation batches per split
    (full: 3 seeds x 5000 steps, 200 batches)."""
    result = questions.multi_head_helps(backend, questions.profile(), corpus)
    print(result)
    assert result.mean("MultiHeadVer1") < result.mean("HeadVer4"), result.claim


def test_multi_head_ver_2_is_faster_than_ver_1(backend, default_threads):
    """B, T, C = 32, 64, 512 with 8 heads (block_size 64), 10 forward calls each, one run.

    Op by op (torch eager, and JAX without jit, reported beside) v2 is faster: 3 (C, C) matmuls and one
    batched attention instead of 24 (C, C/8) matmuls, 8 attentions and a concatenate. Flax is timed
    jitted as well: compiled, the two are the same arithmetic in one XLA program, and v1 is about as
    fast as v2 (measured 0.95x-1.1x here), so on a compiling backend the assertion is that v2 wins op
    by op and that jit closes the gap (v1/v2 < 1.5); on torch, that eager v2 is faster. v1 and v2 run in
    turn, 10 calls each time, and the claim is judged on the median of the paired ratios: torch eager's
    margin is small at this size (both do the same 3.2 GFLOP per call; v2 saves dispatches and uses the
    cores better with its few large matmuls, but pays for einsum's permuting copies), so torch takes 15
    pairs: v1/v2 = 1.08-1.13x over 5 runs on its 2 threads here. One best-of-3 figure, as this test used
    to take, ranged 0.96-1.33x and once failed CI. torch runs on its own thread count."""
    result = questions.multi_head_speed(backend)
    print(result)
    assert result.holds, result.claim


def test_multi_head_ver_1_and_multi_head_ver_2_are_logically_equal(backend):
    """B, T, C = 1, 3, 8 with 4 heads: MultiHeadVer2 given MultiHeadVer1's per-head query/key/value
    weights concatenated (and its proj) gives MultiHeadVer1's output (max abs diff < 1e-6, float32)."""
    result = questions.multi_head_equal(backend)
    print(result)
    assert result.numbers["max |v1 - v2|"][0] < 1e-6, result.claim

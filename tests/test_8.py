"""test_8 (Team 2): why a feed-forward, why residual connections? Asked of both backends.

Run as the seed says: `pytest tests/test_8.py -s -vv` (`-s` prints the per-seed numbers).
`LEARNGPT_PROFILE=full` trains with the seed's config exactly; see parity/questions.py for the profiles.
"""
from parity import questions


def test_ffn_helps(backend, corpus):
    """GPTVer4 around one BlockVer1(MultiHeadVer2) (attention, then feed-forward) ends with a lower mean
    validation loss than GPTVer4 around MultiHeadVer2 alone.

    Seed's config otherwise. Default profile: 3 seeds x 500 steps, 50 evaluation batches per split
    (full: 3 seeds x 5000 steps, 200 batches)."""
    result = questions.ffn_helps(backend, questions.profile(), corpus)
    print(result)
    assert result.mean("BlockVer1") < result.mean("MultiHeadVer2"), result.claim


def test_residual_conn_helps_when_network_is_deep(backend, corpus):
    """n_layers (5) x BlockVer2 (with residual connections) end with a lower mean validation loss than
    5 x BlockVer1 (without).

    Seed's config otherwise. Default profile: 3 seeds x 400 steps (the deep stacks are the slowest to
    train on torch, and the gap is wide already), 50 evaluation batches (full: 5000 steps, 200)."""
    result = questions.residual_helps(backend, questions.profile(), corpus)
    print(result)
    assert result.mean("5xBlockVer2") < result.mean("5xBlockVer1"), result.claim

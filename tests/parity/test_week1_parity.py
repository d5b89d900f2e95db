"""Week 1 across the backends: every week-1 component at the week-2 bounds, on a sequence shorter than
block_size (test_components.py covers T = block_size, every entry of the registry), torch against linen and
against NNX; HeadVer3's weights; the same greedy text from carried weights; and the same error for the same bad
input on every side."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learngpt import components
from learngpt.config import Config
from learngpt_lab import backends
from learngpt_lab.parity_table import DTYPES, JAX_SIDES, OUTPUT_BOUND, component_report

CFG = Config()
WEEK1 = ("HeadVer1", "HeadVer2", "HeadVer3", "PositionalEncoding(v1)", "PositionalEncoding(v2)",
         "PositionalEncoding(v3)", "PositionalEncoding(v4)", "GPTVer1", "GPTVer2(HeadVer1)", "GPTVer2(HeadVer4)",
         "GPTVer3(HeadVer4)")


def test_every_week1_component_is_in_the_parity_table():
    """The registry drives the parity checks (here and in test_components.py): week 1 must be in it."""
    assert set(WEEK1) <= set(components.REGISTRY)


# At T < block_size: every part that crops (masks, position tables), each GPT kind once.
SHORT = tuple(n for n in WEEK1 if n != "GPTVer2(HeadVer4)")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("jax_side", JAX_SIDES)
@pytest.mark.parametrize("name", SHORT)
def test_outputs_and_gradients_agree_on_a_short_sequence(name, jax_side, dtype):
    """B 3, T 5 < block_size 8: the position tables and causal masks are cropped alike on every side."""
    report = component_report(name, dtype=dtype, seed=11, batch=3, seq=5, jax_side=jax_side)
    for row in report.rows:
        print(row.message())
    assert any(row.tensor.startswith("grad[") for row in report.rows)
    assert report.ok, "\n".join(report.failures())


@pytest.mark.parametrize("jax_side", JAX_SIDES)
@pytest.mark.parametrize("name", ["HeadVer1", "PositionalEncoding(v4)"])
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(block_size=st.integers(1, 10), embed_size=st.integers(1, 9), vocab_size=st.integers(2, 70),
       batch=st.integers(1, 4), data=st.data(), dtype=st.sampled_from(DTYPES))
def test_random_shapes_keep_the_bounds(name, jax_side, block_size, embed_size, vocab_size, batch, data, dtype):
    """Random B, T <= block_size and C (odd C included: v4's last sin has no cos partner)."""
    cfg = Config(block_size=block_size, embed_size=embed_size, n_heads=1, vocab_size=vocab_size)
    seq = data.draw(st.integers(1, block_size), label="T")
    report = component_report(name, cfg, dtype=dtype, batch=batch, seq=seq, jax_side=jax_side)
    assert report.ok, f"B={batch} T={seq} C={embed_size} V={vocab_size}:\n" + "\n".join(report.failures())


@pytest.mark.parametrize("dtype", DTYPES)
def test_head_ver_3_weights_agree(dtype):
    x = np.random.default_rng(0).standard_normal((3, 5, CFG.embed_size)).astype(dtype)
    got = {}
    for name in backends.NAMES:
        b = backends.get(name, dtype=dtype)
        head = b.create(lambda lib: components.build(lib, "HeadVer3", CFG), x)
        got[name] = b.intermediates(head, x)["attentions"]
    assert got["torch"].shape == (5, 5)
    for name in backends.NAMES[1:]:
        assert got[name].dtype == np.dtype(dtype)
        diff = float(np.abs(got["torch"] - got[name]).max())
        assert diff <= OUTPUT_BOUND[dtype], (f"HeadVer3 [{dtype}] attentions, torch vs {name}: max abs diff "
                                             f"{diff:.3e} exceeds {OUTPUT_BOUND[dtype]:.0e}")


GREEDY_MARGIN = 1e-3  # top-1 minus top-2 logit at every step: 100 x the float32 output bound


@pytest.mark.parametrize("jax_backend", JAX_SIDES)
@pytest.mark.parametrize("name", ["GPTVer1", "GPTVer2(HeadVer4)"])
def test_greedy_tokens_agree_from_carried_weights(name, jax_backend):
    """torch weights carried to Flax: greedy generation picks the same 8 tokens (GPTVer1 reads one token
    back; GPTVer2 crops its context, 3 + 8 tokens, to block_size 8). Only meaningful where the argmax is not a
    coin flip between roundoff errors: at every step the top logit leads the next by GREEDY_MARGIN, 100 times
    the parity bound, so agreement is parity and a disagreement would be a real difference."""
    idx = np.array([[1, 2, 3]])
    torch_b, flax_b = backends.get("torch"), backends.get(jax_backend)
    tmodel = torch_b.create(lambda lib: components.build(lib, name, CFG), idx, seed=3)
    fmodel = flax_b.create(lambda lib: components.build(lib, name, CFG), idx, seed=0)
    flax_b.set_weights(fmodel, torch_b.get_weights(tmodel))
    want = torch_b.generate(tmodel, idx, 8, greedy=True)
    got = flax_b.generate(fmodel, idx, 8, greedy=True)
    assert want.shape == got.shape == (1, 11)
    for t in range(idx.shape[1], want.shape[1]):  # the logits each greedy choice was made from
        logits = np.sort(torch_b.forward(tmodel, want[:, max(0, t - CFG.block_size):t])[0, -1])
        assert logits[-1] - logits[-2] > GREEDY_MARGIN, f"{name}: a near-tie at step {t}: {logits[-2:]}"
    assert np.array_equal(want, got), f"{name}: torch {want.tolist()} vs {jax_backend} {got.tolist()}"


# Bad input: the same ValueError, with the same message, from both backends.
BAD = {  # id -> (component, bad input, the message both backends give)
    "HeadVer1-too-long": ("HeadVer1", np.zeros((2, 9, 16), np.float32), "sequence length 9 exceeds block_size 8"),
    "HeadVer2-features": ("HeadVer2", np.zeros((2, 8, 15), np.float32), "HeadVer2 expects 16 features, got 15"),
    "HeadVer3-rank": ("HeadVer3", np.zeros((8, 16), np.float32), "HeadVer3 expects input of rank 3"),
    "PositionalEncoding-too-long": ("PositionalEncoding(v2)", np.zeros((1, 9, 16), np.float32),
                                    "sequence length 9 exceeds block_size 8"),
    "GPTVer1-id-too-high": ("GPTVer1", np.array([[0, 65]]), r"token id 65 is outside the vocabulary; expected ids in \[0, 65\)"),
    "GPTVer1-id-negative": ("GPTVer1", np.array([[-1, 0]]), r"token id -1 is outside the vocabulary"),
    "GPTVer1-too-long": ("GPTVer1", np.zeros((1, 9), np.int64), "sequence length 9 exceeds block_size 8"),
    "GPTVer2-rank": ("GPTVer2(HeadVer1)", np.zeros((9,), np.int64), r"GPTVer2 expects input of rank 2 \(B, T\)"),
}


@pytest.mark.parametrize("name,bad,message", list(BAD.values()), ids=list(BAD))
def test_bad_input_is_rejected_alike(backend, name, bad, message):
    example = (np.zeros((1, 4), np.int64) if components.get(name).takes_tokens
               else np.zeros((1, 4, CFG.embed_size), np.float32))
    model = backend.create(lambda lib: components.build(lib, name, CFG), example)
    with pytest.raises(ValueError, match=message):
        backend.forward(model, bad)


def test_an_unknown_encoding_version_is_rejected_alike(backend):
    with pytest.raises(ValueError, match=r"position encoding version 5 does not exist; expected one of \(1, 2, 3, 4\)"):
        backend.create(lambda lib: lib.PositionalEncoding(8, 16, 5), np.zeros((1, 4, 16), np.float32))

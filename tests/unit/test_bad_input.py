"""Both backends reject the same bad input with the same error: type ValueError, a message naming what
was wrong and what was expected. One test per case, each run on both backends."""
import numpy as np
import pytest

from learngpt.components import Architecture
from learngpt.config import Config

CFG = Config()


def nanogpt(backend, seed=0):
    idx = np.zeros((1, CFG.block_size), dtype=np.int64)
    return backend.create(Architecture("GPTVer4", "BlockVer4", 1).recipe(CFG), example=idx, seed=seed)


def test_sequence_longer_than_block_size(backend):
    model = nanogpt(backend)
    with pytest.raises(ValueError, match=r"^sequence length 9 exceeds block_size 8"):
        backend.forward(model, np.zeros((2, 9), dtype=np.int64))


def test_attention_input_longer_than_block_size(backend):
    x = np.zeros((2, 8, 16), dtype=np.float32)
    model = backend.create(lambda lib: lib.MultiHeadVer2(8, 16, 4), example=x)
    with pytest.raises(ValueError, match=r"^sequence length 12 exceeds block_size 8"):
        backend.forward(model, np.zeros((2, 12, 16), dtype=np.float32))


@pytest.mark.parametrize("bad", [65, 1000, -1])
def test_token_ids_outside_the_vocabulary(backend, bad):
    model = nanogpt(backend)
    idx = np.zeros((2, 8), dtype=np.int64)
    idx[1, 3] = bad
    with pytest.raises(ValueError, match=rf"^token id {bad} is outside the vocabulary; expected ids in \[0, 65\)"):
        backend.forward(model, idx)


@pytest.mark.parametrize("bad", [65, -1])
@pytest.mark.parametrize("how", ["generate", "complete"])
def test_a_prompt_outside_the_vocabulary(backend, bad, how):
    """Generation checks the prompt once, before its loop (whose steps read no id back): the same error."""
    model = nanogpt(backend)
    idx = np.zeros((1, 4), dtype=np.int64)
    idx[0, 2] = bad
    with pytest.raises(ValueError, match=rf"^token id {bad} is outside the vocabulary; expected ids in \[0, 65\)"):
        getattr(backend, how)(model, idx, 3)


def test_target_ids_outside_the_vocabulary(backend):
    model = nanogpt(backend)
    idx = np.zeros((2, 8), dtype=np.int64)
    with pytest.raises(ValueError, match=r"token id 70 is outside the vocabulary"):
        backend.loss(model, idx, idx + 70)


@pytest.mark.parametrize("cls", ["MultiHeadVer1", "MultiHeadVer2"])
def test_embed_size_not_divisible_by_n_heads(backend, cls):
    with pytest.raises(ValueError, match=r"^embed_size 16 is not divisible by n_heads 3; expected n_heads to divide embed_size"):
        getattr(backend.lib, cls)(8, 16, 3)


@pytest.mark.parametrize("shape", [(8, 16), (1, 2, 8, 16)])
def test_attention_input_of_the_wrong_rank(backend, shape):
    x = np.zeros((2, 8, 16), dtype=np.float32)
    model = backend.create(lambda lib: lib.HeadVer4(8, 16, 16), example=x)
    with pytest.raises(ValueError, match=rf"^HeadVer4 expects input of rank 3 \(B, T, C\), got rank {len(shape)}"):
        backend.forward(model, np.zeros(shape, dtype=np.float32))


def test_token_input_of_the_wrong_rank(backend):
    model = nanogpt(backend)
    with pytest.raises(ValueError, match=r"^GPTVer4 expects input of rank 2 \(B, T\), got rank 1 with shape \(8,\)"):
        backend.forward(model, np.zeros(8, dtype=np.int64))


def test_wrong_feature_size(backend):
    x = np.zeros((2, 8, 16), dtype=np.float32)
    model = backend.create(lambda lib: lib.MultiHeadVer2(8, 16, 4), example=x)
    with pytest.raises(ValueError, match=r"^MultiHeadVer2 expects 16 features, got 12"):
        backend.forward(model, np.zeros((2, 8, 12), dtype=np.float32))


@pytest.mark.parametrize("rate", [1.0, -0.5])
def test_dropout_rate_outside_zero_one(backend, rate):
    with pytest.raises(ValueError, match=rf"^dropout rate {rate} is outside \[0, 1\)"):
        backend.lib.BlockVer4(backend.lib.MultiHeadVer2(8, 16, 4), 16, rate)


def test_flax_under_jit_poisons_bad_ids_instead_of_clamping():
    """Inside jit the ids are unknown, so no exception is possible: a bad id must still not be clamped
    or wrapped onto a real row (JAX's gather default) — the lookup returns NaN and the loss is NaN."""
    import jax

    from learngpt_lab import backends

    backend = backends.get("flax")
    model = nanogpt(backend)
    apply = jax.jit(lambda p, idx: model.module.apply({"params": p}, idx, idx % 65)[1])
    good = np.zeros((2, 8), dtype=np.int32)
    assert np.isfinite(apply(model.params, good))
    for bad in (65, -1):
        idx = good.copy()
        idx[0, 0] = bad
        assert np.isnan(apply(model.params, idx)), bad

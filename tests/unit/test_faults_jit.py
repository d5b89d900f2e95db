"""A token id outside the vocabulary under jit: compiled code cannot raise, and plain jax.jit returns NaN where
eager code fails. The places that compile for the user (the Flax trainer, fast decoding) check ids on the host
first; `checked` (learngpt_flax.checked, learngpt_torch.checked) makes any other function that is compiled raise
the same InputError as eager code."""
import numpy as np
import pytest

from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.errors import InputError
from learngpt_lab import backends


def test_flax_trainer_and_fast_decoding_check_ids_on_the_host(corpus):
    from learngpt.data import BatchSampler
    from learngpt.training import eval_data
    b = backends.get("flax")
    cfg = Config(n_layers=1, eval_iters=1)
    model = b.create(NANOGPT.recipe(cfg), example=np.zeros((1, 8), np.int64))
    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
    evals = eval_data(sampler, cfg)
    evals["val"][0][0, 0, 3] = 65
    with pytest.raises(InputError, match=r"token id 65 is outside the vocabulary; expected ids in \[0, 65\)"):
        b.train(model, cfg, sampler, evals, max_iters=2, eval_interval=2)
    with pytest.raises(InputError, match=r"token id -1 is outside the vocabulary"):
        b.complete(model, np.array([[3, -1, 4]]), 2)


def test_checked_mode_raises_where_plain_jit_returns_nan():
    import jax
    from learngpt_flax.checked import checked
    b = backends.get("flax")
    cfg = Config(n_layers=1)
    model = b.create(NANOGPT.recipe(cfg), example=np.zeros((1, 8), np.int64))
    idx = np.zeros((2, 8), np.int32)
    bad = idx.copy()
    bad[0, 3] = 65
    loss = lambda p, x, y: model.module.apply({"params": p}, x, y)[1]  # noqa: E731
    assert np.isnan(jax.jit(loss)(model.params, bad, idx))  # what plain jit does (documented in the README)
    safe = checked(loss)
    assert np.isfinite(safe(model.params, idx, idx))
    with pytest.raises(InputError, match=r"^token id 65 is outside the vocabulary; expected ids in \[0, 65\)"):
        safe(model.params, bad, idx)


def test_torch_checked_raises_where_the_compiled_lookup_fails():
    import torch

    from learngpt_torch.checked import checked
    b = backends.get("torch")
    cfg = Config(n_layers=1)
    model = b.create(NANOGPT.recipe(cfg), example=np.zeros((1, 8), np.int64)).module.eval()
    idx = torch.zeros((2, 8), dtype=torch.int64)
    bad = idx.clone()
    bad[0, 3] = 65
    safe = checked(lambda x, y: model(x, y)[1], model.vocab_size)
    assert torch.isfinite(safe(idx, idx))
    with pytest.raises(InputError, match=r"^token id 65 is outside the vocabulary; expected ids in \[0, 65\)"):
        safe(bad, idx)

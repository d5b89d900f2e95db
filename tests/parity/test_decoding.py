"""Greedy tokens, then text: the same weights decode the same ids in every backend; checkpoints cross over.

The models are trained briefly first (random weights give near-tied logits, where argmax is a coin flip
between roundoff errors, which would test luck rather than parity).
"""
import numpy as np
import pytest

from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt_lab import backends

# one xdist worker for the module: its module-scoped fixture (the three trained checkpoints) is then made once, not once per worker
pytestmark = [pytest.mark.training, pytest.mark.xdist_group("decoding")]

CFG = Config(n_layers=2, eval_interval=150, eval_iters=4)  # NanoGPT (BlockVer4, dropout 0.05), two blocks
STEPS = 150
NEW = 100


def trained(name, corpus, tmp_path_factory):
    """A NanoGPT trained STEPS steps in backend `name` from torch's init, saved as a checkpoint."""
    b = backends.get(name)
    init = backends.get("torch")
    weights = init.get_weights(init.create(NANOGPT.recipe(CFG), seed=CFG.seed))
    model = b.create(NANOGPT.recipe(CFG), example=np.zeros((1, CFG.block_size), np.int64))
    b.set_weights(model, weights)
    b.train(model, CFG, BatchSampler(corpus, CFG.batch_size, CFG.block_size, CFG.seed), max_iters=STEPS)
    path = tmp_path_factory.mktemp("ckpt") / f"{name}.safetensors"
    return b.save_checkpoint(path, model, CFG, corpus.tokenizer.chars, step=STEPS)


@pytest.fixture(scope="module")
def checkpoints(corpus, tmp_path_factory):
    if set(backends.selected()) != set(backends.NAMES):
        pytest.skip("cross-loading needs every backend")
    return {name: trained(name, corpus, tmp_path_factory) for name in backends.NAMES}


@pytest.fixture(scope="module")
def prompt(corpus):
    return corpus.tokenizer.encode("ROMEO:\nWhat")[None, :]  # (1, 11), longer than block_size: the window slides


@pytest.mark.parametrize("trained_in", backends.NAMES)
def test_greedy_ids_and_text_identical_across_backends(checkpoints, prompt, corpus, trained_in):
    """A model trained in one backend, loaded in each: 100 argmax tokens are the same ids, hence the same text."""
    ids = {}
    for name in backends.NAMES:
        b = backends.get(name)
        model, ckpt = b.load_checkpoint(checkpoints[trained_in])
        assert ckpt.backend == trained_in
        ids[name] = b.complete(model, prompt, NEW, greedy=True)  # generate's ids (test below), compiled in Flax
    assert ids["torch"].shape == (1, prompt.shape[1] + NEW)
    for name in backends.NAMES[1:]:  # linen, NNX: each against torch
        first = np.flatnonzero(ids["torch"][0] != ids[name][0])
        assert first.size == 0, (f"trained in {trained_in}: greedy ids differ first at position {first[0]}: "
                                 f"torch {corpus.tokenizer.decode(ids['torch'][0])!r} vs "
                                 f"{name} {corpus.tokenizer.decode(ids[name][0])!r}")


def test_fast_decoding_equals_generate(checkpoints, prompt, backend):
    """Backend.complete (what the commands use; one compiled program in Flax) gives generate's greedy ids."""
    model, _ = backend.load_checkpoint(checkpoints["flax"])
    short = prompt[:, :3]  # shorter than block_size: decode pads the window, then slides it
    np.testing.assert_array_equal(backend.complete(model, short, 12, greedy=True),
                                  backend.generate(model, short, 12, greedy=True))


def test_sampling_is_reproducible_within_a_backend(checkpoints, prompt, backend):
    model, _ = backend.load_checkpoint(checkpoints["torch"])
    np.testing.assert_array_equal(backend.generate(model, prompt, 10, seed=5), backend.generate(model, prompt, 10, seed=5))
    a = backend.complete(model, prompt, 30, seed=5)
    np.testing.assert_array_equal(a, backend.complete(model, prompt, 30, seed=5))
    assert (a != backend.complete(model, prompt, 30, seed=6)).any(), "two seeds sampled the same 30 tokens"

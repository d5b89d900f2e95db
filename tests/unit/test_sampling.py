"""generate/complete --temperature --top-k: one maths on both backends (learngpt/sampling.py), each framework's
own rng. The rngs differ (torch.multinomial on a Generator, jax.random.categorical), so the same seed does not
draw the same tokens across backends: what is equal is the distribution each draws from, checked exactly (the
processed logits) and by sampling (20000 draws against learngpt.sampling.probabilities)."""
import numpy as np
import pytest

from learngpt import sampling
from learngpt.components import Architecture
from learngpt.config import Config
from learngpt.errors import InputError
from learngpt_lab import backends

CFG = Config(block_size=8, embed_size=16, n_heads=4, n_layers=1, vocab_size=65)
ARCH = Architecture("GPTVer2", "HeadVer4")
PROMPT = np.array([[3, 17, 40]])  # (1, 3)


@pytest.fixture(scope="module")
def models():
    torch_b = backends.get("torch", "float64")
    weights = torch_b.get_weights(torch_b.create(ARCH.recipe(CFG), seed=3))
    weights = {k: v * 4 if k.startswith("lm_head") else v for k, v in weights.items()}  # logits spread out
    example = np.zeros((1, CFG.block_size), np.int64)
    return {name: (backends.get(name, "float64"),
                   backends.get(name, "float64").create(ARCH.recipe(CFG), example=example, weights=weights))
            for name in backends.NAMES}


@pytest.mark.parametrize("temperature, top_k, words", [
    (0, None, "temperature must be a finite number > 0"), (-1.0, None, "temperature"),
    (float("nan"), None, "temperature"), (float("inf"), None, "temperature"), (True, None, "temperature"),
    (1.0, 0, "top_k must be an integer in [1, 65]"), (1.0, 66, "top_k"), (1.0, 2.5, "top_k"),
])
def test_bad_values_are_one_line(temperature, top_k, words):
    with pytest.raises(InputError, match=None) as err:
        sampling.check(temperature, top_k, 65)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", backends.NAMES)
def test_each_backend_refuses_bad_values_before_sampling(models, name):
    b, model = models[name]
    for call in (b.generate, b.complete):
        with pytest.raises(InputError, match="top_k"):
            call(model, PROMPT, 2, top_k=70)
        with pytest.raises(InputError, match="temperature"):
            call(model, PROMPT, 2, temperature=0.0)


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.5, 3), (2.0, 1), (1.0, 65)])
def test_both_backends_process_logits_as_the_numpy_maths_does(models, temperature, top_k):
    logits = np.random.default_rng(0).normal(size=(4, 65))
    logits[0, :5] = logits[0].max() + 1  # a tie at the top: every tied logit is kept
    want = sampling.probabilities(logits, temperature, top_k)
    assert (want > 0).sum(axis=-1).min() >= (top_k or 65)
    import torch
    (_, tmodel), (_, fmodel) = models["torch"], models["flax"]
    got_t = torch.softmax(tmodel.module.sampling_logits(torch.as_tensor(logits), temperature, top_k), -1).numpy()
    import jax
    with jax.enable_x64(True):
        z = fmodel.module.apply({"params": fmodel.params}, logits, temperature, top_k, method="sampling_logits")
        got_f = np.asarray(jax.nn.softmax(z, axis=-1))
    np.testing.assert_allclose(got_t, want, atol=1e-12)
    np.testing.assert_allclose(got_f, want, atol=1e-12)


@pytest.mark.parametrize("name", backends.NAMES)
def test_top_k_1_and_a_vanishing_temperature_are_greedy(models, name):
    b, model = models[name]
    greedy = b.complete(model, PROMPT, 5, greedy=True)
    for call in (b.generate, b.complete):
        np.testing.assert_array_equal(call(model, PROMPT, 5, seed=4, top_k=1), greedy)
        np.testing.assert_array_equal(call(model, PROMPT, 5, seed=4, temperature=1e-8), greedy)
    assert (b.complete(model, PROMPT, 5, seed=4) != greedy).any(), "plain sampling matched greedy: a weak test"


@pytest.mark.parametrize("temperature, top_k", [(0.7, 5), (1.5, None)])
def test_both_backends_draw_from_the_same_distribution(models, temperature, top_k):
    """20000 first tokens per backend against the exact probabilities: the total variation below three times
    its expected value at that many draws (0.5 sum sqrt(2 p (1 - p) / (pi n))), never a token outside the top k."""
    n = 20000
    logits = models["torch"][0].forward(models["torch"][1], PROMPT)[:, -1, :]  # (1, V)
    want = sampling.probabilities(logits, temperature, top_k)[0]
    for name, (b, model) in models.items():
        drawn = b.complete(model, np.repeat(PROMPT, n, axis=0), 1, seed=11, temperature=temperature,
                           top_k=top_k)[:, -1]
        seen = np.bincount(drawn, minlength=65) / n
        assert seen[want == 0].sum() == 0, f"{name} drew a token outside the top {top_k}"
        tv = 0.5 * np.abs(seen - want).sum()
        expected = 0.5 * np.sqrt(2 * want * (1 - want) / (np.pi * n)).sum()
        assert tv < 3 * expected, f"{name}: total variation {tv:.4f} from the distribution, expected ~{expected:.4f}"
    plain = sampling.probabilities(logits)[0]
    assert 0.5 * np.abs(plain - want).sum() > 0.1, "temperature/top_k barely change this distribution: weak test"

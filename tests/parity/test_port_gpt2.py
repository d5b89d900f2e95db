"""Bring your own model: parity's public API on a pair no one here wrote, Hugging Face transformers' GPT-2
(4.57.6, the last release with Flax models): `GPT2LMHeadModel` and `FlaxGPT2LMHeadModel`'s linen module,
randomly initialised from a tiny GPT2Config (nothing is downloaded), torch's weights carried to Flax by rules
written here with parity.rules, not in the library.

The port keeps the float32 and float64 bounds; three planted differences in the Flax copy are each named at
the right layer by the layer table: a LayerNorm epsilon, a missing transpose, a GELU approximation. The last
one passes every output and gradient bound at GPT-2's own initialisation (std 0.02): only the layer table
sees it. transformers comes with the `dev` extra (via `port`): a missing transformers fails here, never skips.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a random init from a config: nothing to download, never try

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import FlaxGPT2LMHeadModel, GPT2Config, GPT2LMHeadModel  # noqa: E402

from parity import DEFAULT_RULES, ParityError, WeightMismatchError, assert_parity, compare, leaf, rename  # noqa: E402
from parity.bridge import abstract_params, torch_state, torch_to_flax  # noqa: E402

# GPT-2's rules, with the public API. torch's Conv1D stores its weight (in, out), unlike nn.Linear, and
# transformers' FlaxConv1D stores its kernel (out, in), unlike nn.Dense: the two departures cancel, so the
# default rule (kernel = weight transposed) is already right for GPT-2 and only two rules are GPT-2's own.
GPT2_RULES = DEFAULT_RULES.extend(
    rename(r"ln_(\d+)", r"ln_\1"),  # ln_1, ln_2 are names; the default rule would read them as list entries ln.1
    tied={"lm_head.weight": "transformer.wte.weight"},  # the output layer shares the token embedding (no Flax twin)
)
CONFIG = dict(n_layer=2, n_embd=32, n_head=4, vocab_size=97, n_positions=16, resid_pdrop=0.0, embd_pdrop=0.0,
              attn_pdrop=0.0, use_cache=False)
B, T = 2, 8


def pair(dtype="float32", **flax_changes):
    """torch GPT-2 initialised by torch (seed 0), and the Flax linen module of the same config plus changes."""
    torch.manual_seed(0)
    tmod = GPT2LMHeadModel(GPT2Config(**CONFIG)).eval()
    tmod = tmod.double() if dtype == "float64" else tmod
    fmod = FlaxGPT2LMHeadModel.module_class(config=GPT2Config(**CONFIG, **flax_changes), dtype=jnp.dtype(dtype))
    return tmod, fmod


def inputs():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, CONFIG["vocab_size"], (B, T))  # (B, T) token ids
    targets = rng.integers(0, CONFIG["vocab_size"], (B, T))  # (B, T)
    # the Flax module takes its mask and positions as arguments; torch makes its own
    flax_kwargs = {"attention_mask": np.ones((B, T), np.int32), "position_ids": np.arange(T)[None]}  # (B, T), (1, T)
    return ids, dict(targets=targets, flax_kwargs=flax_kwargs, loss="cross_entropy")


def check(dtype="float32", rules=GPT2_RULES, **flax_changes):
    tmod, fmod = pair(dtype, **flax_changes)
    ids, kwargs = inputs()
    report = compare(tmod, fmod, ids, rules=rules, dtype=dtype, name="GPT-2 (transformers 4.57.6)", **kwargs)
    print(report)
    return report


def maxima(report) -> str:
    outs = {r.tensor: r.diff for r in report.rows if not r.tensor.startswith("grad[")}
    grad = max(r.diff for r in report.rows if r.tensor.startswith("grad["))
    layer = max(layer.rel for layer in report.layers if layer.compared)
    return (f"logits {outs['logits']:.2e}, loss {outs['loss']:.2e}, gradients {grad:.2e}, "
            f"layers {layer:.2e} relative")


def test_the_last_transformers_with_flax_models():
    assert transformers.__version__ == "4.57.6"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gpt2_port_keeps_the_bounds(dtype):
    report = check(dtype)
    print(f"GPT-2 measured maxima [{dtype}]: {maxima(report)}")
    assert report.ok, report
    tensors = {r.tensor for r in report.rows}
    assert {"logits", "loss"} <= tensors
    torch_params = dict(pair(dtype)[0].named_parameters())  # lm_head.weight is wte's tensor: listed once
    assert {f"grad[{k}]" for k in torch_params} == {t for t in tensors if t.startswith("grad[")}
    # every submodule call is compared but these four: torch names its embedding dropout `drop` (Flax
    # `dropout`), the activation is a module in torch and a function in Flax, and the Flax head is applied
    # with the embedding as its kernel (`lm_head.apply`), which capture_intermediates does not record
    assert {layer.name for layer in report.layers if not layer.compared} == {
        "transformer.drop", "transformer.h.0.mlp.act", "transformer.h.1.mlp.act", "lm_head"}
    assert sum(layer.compared for layer in report.layers) == 27
    assert report.torch_params == report.flax_params == 29_088


def test_planted_layernorm_epsilon_is_named_at_the_first_layernorm():
    """Flax's LayerNorm default (1e-6) instead of GPT-2's 1e-5: made inside transformer.h.0.ln_1."""
    report = check(layer_norm_epsilon=1e-6)
    first = report.first_divergence
    assert not report.ok
    assert first.name == "transformer.h.0.ln_1" and first.kind == "LayerNorm"
    assert first.input_ok and not first.output_ok, "the difference is made inside the LayerNorm"


def test_planted_missing_transpose_is_named_at_its_layer():
    """A rule that leaves the square attention projection (32, 32) untransposed: the shapes fit, the numbers
    do not, and the report names transformer.h.0.attn.c_proj with its input still agreeing."""
    rules = GPT2_RULES.extend(leaf("kernel", "weight", "none", under=r"\.attn\.c_proj$"))
    report = check(rules=rules)
    first = report.first_divergence
    assert first.name == "transformer.h.0.attn.c_proj" and first.kind == "Conv1D"
    assert first.input_ok and not first.output_ok


def test_planted_gelu_approximation_is_seen_only_by_the_layer_table():
    """Exact GELU in Flax where GPT-2 uses the tanh approximation (gelu_new). At GPT-2's init the difference
    stays inside every output and gradient bound; the layer table finds it in the input of
    transformer.h.0.mlp.c_proj, right after torch's mlp.act, which has no Flax twin (Flax calls a function)."""
    report = check(activation_function="gelu")
    assert all(r.ok for r in report.rows), "the planted GELU is meant to hide from the output and gradient bounds"
    first = report.first_divergence
    assert first.name == "transformer.h.0.mlp.c_proj"
    assert not first.input_ok
    assert "after layer 10, transformer.h.0.mlp.c_fc (the last that agrees)" in report.verdict()
    assert "transformer.h.0.mlp.act (NewGELUActivation)" in report.verdict()
    assert not report.ok


def test_assert_parity_fails_with_the_layer_table():
    tmod, fmod = pair(layer_norm_epsilon=1e-6)
    ids, kwargs = inputs()
    with pytest.raises(ParityError) as failed:
        assert_parity(tmod, fmod, ids, rules=GPT2_RULES, **kwargs)
    message = str(failed.value)
    assert "transformer.h.0.ln_1" in message and "<-- first divergence" in message
    assert isinstance(failed.value, AssertionError)


def test_a_conv1d_rule_without_transpose_is_refused_naming_the_keys():
    """Believing Conv1D needs no transpose: every non-square kernel is refused before anything is built, with
    both shapes and the hint; the count of the rest keeps the message short."""
    rules = GPT2_RULES.extend(leaf("kernel", "weight", "none", under=r"\.(c_attn|c_fc|c_proj)$"))
    tmod, fmod = pair()
    ids, kwargs = inputs()
    template = abstract_params(fmod, jnp.asarray(ids), **kwargs["flax_kwargs"])
    with pytest.raises(WeightMismatchError) as failed:
        torch_to_flax(torch_state(tmod), template, rules)
    message = str(failed.value)
    assert "(6 mis-shaped)" in message  # c_attn and the MLP's c_fc, c_proj in 2 blocks; attn.c_proj is square
    assert ("key 'transformer.h.0.attn.c_attn.weight' has shape (32, 96), Flax model expects (96, 32): looks "
            "transposed: add a transpose rule for the Flax parameter 'transformer/h/0/attn/c_attn/kernel'") in message
    assert "... and 1 more mis-shaped keys" in message

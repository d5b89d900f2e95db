"""parity proven beyond GPT-2: transformers 4.57.6's BertModel and OPTForCausalLM against their Flax classes,
small random configs (tools/port_models.py holds the cases; its results file feeds docs/port.md).

A correct port passes in float32 and float64 with the user rules counted in docs/port.md (BERT none, OPT one):
the key biases' gradients, zero analytically, pass by the stated floor and by nothing looser. Each planted bug
is named at its layer or the one right after it, with the likely cause. transformers comes with the `dev`
extra (via `port`): a missing transformers fails here, never skips.
"""
import json
from pathlib import Path

import pytest

from parity.check import GRAD_FLOOR_EPS
from tools import port_models as pm

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model", ["BERT", "OPT"])
def test_a_correct_port_passes(model, dtype):
    report = pm.report(model, dtype)
    print(report)
    assert report.ok, report
    s = pm.summary(report)
    assert s["layers_compared"] == {"BERT": 42, "OPT": 25}[model], s["not_compared"]
    # the layers left uncompared are the activation modules Flax calls as functions, and OPT's tied head
    assert all("no Flax twin" in line for line in s["not_compared"]), s["not_compared"]
    assert not any("not compared: shapes" in layer.note for layer in report.layers)  # broadcast ones compared
    if dtype == "float32":
        # exactly the two key biases are saved by the floor, each far below it (roundoff, not a difference)
        assert s["floored"] == sorted(f"grad[{p}.{i}.{k}.bias]" for i in (0, 1) for p, k in
                                      {"BERT": [("encoder.layer", "attention.self.key")],
                                       "OPT": [("model.decoder.layers", "self_attn.k_proj")]}[model])
        assert s["floored_max_abs"] < 1e-2 * s["gradient_floor"]


def test_the_floor_is_what_saves_the_key_bias_and_nothing_looser():
    """Without the floor (an override restoring the bare relative bound) the correct BERT port fails on the two
    key biases and nothing else, as it did before the floor existed; the floor is eps * the largest torch
    gradient (each relative row's scale is abs_diff / diff)."""
    from parity import compare
    tmod, fmod = pm.pair("BERT")
    ids, kwargs = pm.inputs("BERT")
    bare = compare(tmod, fmod, ids, rules=pm.rules("BERT"), layers=False, overrides={r"grad\[.*": 1e-4}, **kwargs)
    assert {r.tensor for r in bare.rows if not r.ok} == {"grad[encoder.layer.0.attention.self.key.bias]",
                                                         "grad[encoder.layer.1.attention.self.key.bias]"}
    plain = compare(tmod, fmod, ids, rules=pm.rules("BERT"), layers=False, **kwargs)
    assert plain.ok, plain
    grads = [r for r in plain.rows if r.tensor.startswith("grad[")]
    largest = max(r.abs_diff / r.diff for r in grads if r.diff > 0)
    assert grads[0].floor == pytest.approx(GRAD_FLOOR_EPS["float32"] * largest, rel=1e-6)


def test_a_real_difference_in_a_small_gradient_still_fails():
    """The floor does not hide a real difference: BERT's query bias has the smallest real gradients (about
    1e-2 of max, above the floor); planting a difference of that size in its Flax gradient (by a changed
    query bias the torch side does not have) fails on that tensor."""
    from parity import compare
    from parity.bridge import abstract_params, torch_state, torch_to_flax
    import jax.numpy as jnp
    tmod, fmod = pm.pair("BERT")
    ids, kwargs = pm.inputs("BERT")
    template = abstract_params(fmod, jnp.asarray(ids), **kwargs["flax_kwargs"])
    params = torch_to_flax(torch_state(tmod), template, pm.rules("BERT"))
    q = params["encoder"]["layer"]["1"]["attention"]["self"]["query"]
    q["bias"] = q["bias"] + 1e-3  # a real change of the function: its gradients move with it
    report = compare(tmod, fmod, ids, rules=pm.rules("BERT"), variables=params, layers=False, **kwargs)
    floor = next(r.floor for r in report.rows if r.tensor.startswith("grad["))
    failed = [r for r in report.rows if not r.ok and r.tensor.startswith("grad[")]
    assert failed and all(r.abs_diff > floor for r in failed)


@pytest.mark.parametrize("bug", list(pm.PLANTED))
def test_a_planted_bug_is_named_at_its_layer(bug):
    model, what, expected = pm.PLANTED[bug]
    report = pm.report(model, "float32", bug)
    print(report)
    assert not report.ok
    first = report.first_divergence
    assert first is not None and first.name in expected, (what, report.verdict())
    cause = {"layernorm-epsilon": "LayerNorm epsilon", "activation": "activation", "zero-attention-bias": "bias",
             "untransposed-kernel": "transposed square kernel"}[bug.split("-", 1)[1]]
    assert any(cause in c for c in report.causes), report.causes


def test_the_results_file_is_what_the_cases_give():
    """docs/results/port-models.json (docs/port.md's tables) names the layers the tests name."""
    result = json.loads((ROOT / "docs" / "results" / "port-models.json").read_text(encoding="utf-8"))
    assert set(result["models"]) == {"BERT", "OPT"}
    assert all(s["ok"] for runs in result["models"].values() for s in runs.values())
    assert {p["bug"] for p in result["planted"]} == set(pm.PLANTED)
    for p in result["planted"]:
        assert p["named"] in pm.PLANTED[p["bug"]][2] and not p["ok"]
    assert result["rules"] == pm.RULE_LINES

"""Every component of the registry (learngpt/components.py): torch weights carried to Flax (linen and NNX),
then outputs, gradients (every parameter and the input), every sown intermediate (attention weights,
HeadVer4's score variance), every submodule's input and output (the layer table) and parameter counts compared
at the bounds of learngpt_lab.parity_table (1e-5 / 1e-10 outputs, 1e-4 rel / 1e-10 gradients), by the one engine,
parity.check.compare; and linen against NNX, the same weights carried to both, at the same bounds."""
import re
from pathlib import Path

import pytest

from learngpt import components
from learngpt_lab.parity_table import DTYPES, GRAD_BOUND, JAX_SIDES, OUTPUT_BOUND, PAIRS, component_report, pair_report

PAIR_IDS = [f"{a}-{b}" for a, b in PAIRS]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("name", list(components.REGISTRY))
def test_outputs_and_gradients_agree(name, pair, dtype):
    report = pair_report(name, pair, dtype, seed=7)
    assert report.rows, f"{name}: nothing was compared"
    tensors = {row.tensor for row in report.rows}
    assert ("output" in tensors) or ({"logits", "loss"} <= tensors)
    assert any(t.startswith("grad[") for t in tensors)
    for row in report.rows:
        print(row.message())
    assert report.ok, "\n".join(report.failures())


@pytest.mark.parametrize("jax_side", JAX_SIDES)
def test_head_exposes_attentions_and_variance(jax_side):
    report = component_report("HeadVer4", dtype="float64", jax_side=jax_side)
    assert {"attentions", "var"} <= {row.tensor for row in report.rows}


@pytest.mark.parametrize("jax_side", JAX_SIDES)
def test_every_sown_intermediate_is_compared_with_its_torch_attribute(jax_side):
    """Flax's sow paths (NNX's nnx.Intermediate attributes) map onto torch submodules by the bridge's rules:
    deep inside a GPT too."""
    report = component_report("GPTVer4(2xBlockVer4)", dtype="float64", jax_side=jax_side)
    tensors = {row.tensor for row in report.rows}
    assert {"contextualizer.0.head.attentions", "contextualizer.1.head.attentions"} <= tensors


def test_a_difference_above_the_bound_fails():
    """The comparison can fail: a model whose weights differ by 1e-3 in one entry is caught."""
    from parity.check import Report

    report = Report("probe", "float32")
    report.add("output", [0.0, 1.001], [0.0, 1.0], OUTPUT_BOUND["float32"])
    report.add("grad[w]", [2.0], [1.0], GRAD_BOUND["float32"], relative=True)
    assert not report.ok
    failures = report.failures()
    assert "probe [float32] output: max abs diff 1.000e-03 exceeds bound 1e-05" in failures[0]
    assert "relative" in failures[1]


def test_the_bounds_the_docs_state_are_the_bounds_checked():
    """docs/parity.md's and docs/port.md's tables of bounds (float32, then float64) state OUTPUT_BOUND and
    GRAD_BOUND, the bounds compare checks: a bound changed in one place only is caught."""
    rows = {"docs/parity.md": ("| outputs ", "| gradients "),
            "docs/port.md": ("| every array the modules return", "| gradient of one scalar")}
    for doc, starts in rows.items():
        lines = (ROOT / doc).read_text(encoding="utf-8").splitlines()
        for start, bound in zip(starts, (OUTPUT_BOUND, GRAD_BOUND)):
            (row,) = [line for line in lines if line.startswith(start)]
            stated = [float(x) for x in re.findall(r"\b\d+(?:\.\d+)?e-\d+\b", row)]
            assert stated == [bound["float32"], bound["float64"]], f"{doc}: {row}"


@pytest.mark.parametrize("jax_side", JAX_SIDES)
def test_every_layer_of_nanogpt_is_compared_with_its_twin(jax_side):
    """The layer table pairs each torch submodule with its Flax twin by the bridge's rules; only the ReLU (a
    module in torch, a function in Flax) has no twin."""
    report = component_report("NanoGPT", dtype="float64", jax_side=jax_side)
    uncompared = {layer.name for layer in report.layers if not layer.compared}
    assert uncompared and all(name.endswith("ffwd.net.1") for name in uncompared), uncompared
    names = [layer.name for layer in report.layers]
    assert names.index("contextualizer.0.head.proj") < names.index("contextualizer.0") < names.index("lm_head")
    assert names[-1] == "" and report.first_divergence is None


@pytest.mark.parametrize("jax_side", JAX_SIDES)
def test_a_planted_difference_in_a_component_is_named_at_its_layer(jax_side):
    """The same engine on the curriculum's own modules: GPTVer4's final LayerNorm epsilon changed on one side
    (torch's nn.LayerNorm keeps it as an attribute) is named at ln_f, made inside it."""
    from learngpt.config import Config
    from parity.check import compare
    from learngpt_lab.parity_table import build_jax, build_torch, make_inputs

    cfg = Config()
    name = "GPTVer4(2xBlockVer4)"
    tmod = build_torch(name, cfg, 0, "float32")
    assert tmod.ln_f.eps == 1e-5
    tmod.ln_f.eps = 1e-3
    x, targets = make_inputs(name, cfg, 4, cfg.block_size, 1, "float32")
    report = compare(tmod, build_jax(name, cfg, jax_side), (x, targets), output_names=("logits", "loss"))
    assert not report.ok
    first = report.first_divergence
    assert first.name == "ln_f" and first.input_ok and not first.output_ok
    assert [layer.name for layer in report.layers if not layer.ok][0] == "ln_f"

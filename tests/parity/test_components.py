"""Every component of the registry (learngpt/components.py): torch weights carried to Flax, then outputs,
gradients (every parameter and the input), every sown intermediate (attention weights, HeadVer4's score
variance) and parameter counts compared at the bounds of parity.numerics (1e-5 / 1e-10 outputs, 1e-4 rel /
1e-10 gradients)."""
import pytest

from learngpt import components
from parity.numerics import DTYPES, GRAD_BOUND, OUTPUT_BOUND, component_report


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(components.REGISTRY))
def test_outputs_and_gradients_agree(name, dtype):
    report = component_report(name, dtype=dtype, seed=7)
    assert report.rows, f"{name}: nothing was compared"
    tensors = {row.tensor for row in report.rows}
    assert ("output" in tensors) or ({"logits", "loss"} <= tensors)
    assert any(t.startswith("grad[") for t in tensors)
    for row in report.rows:
        print(row.message())
    assert report.ok, "\n".join(report.failures())


def test_head_exposes_attentions_and_variance():
    report = component_report("HeadVer4", dtype="float64")
    assert {"attentions", "var"} <= {row.tensor for row in report.rows}


def test_every_sown_intermediate_is_compared_with_its_torch_attribute():
    """Flax's sow paths map onto torch submodules by the bridge's rules: deep inside a GPT too."""
    report = component_report("GPTVer4(2xBlockVer4)", dtype="float64")
    tensors = {row.tensor for row in report.rows}
    assert {"contextualizer.0.head.attentions", "contextualizer.1.head.attentions"} <= tensors


def test_a_difference_above_the_bound_fails():
    """The comparison can fail: a model whose weights differ by 1e-3 in one entry is caught."""
    from parity import numerics

    report = numerics.Report("probe", "float32")
    report.add("output", [0.0, 1.001], [0.0, 1.0], OUTPUT_BOUND["float32"])
    report.add("grad[w]", [2.0], [1.0], GRAD_BOUND["float32"], relative=True)
    assert not report.ok
    failures = report.failures()
    assert "probe [float32] output: max abs diff 1.000e-03 exceeds bound 1e-05" in failures[0]
    assert "relative" in failures[1]


def test_bounds_are_the_issue_bounds():
    assert OUTPUT_BOUND == {"float32": 1e-5, "float64": 1e-10}
    assert GRAD_BOUND == {"float32": 1e-4, "float64": 1e-10}

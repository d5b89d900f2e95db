"""compare's inputs and outputs as porters hand them over: a dict of keyword inputs, dataclass and named-tuple
outputs compared by field, a module of another dtype, an output of another shape (a failed check, exit 1, never
"the models cannot run on it"), and mistakes refused in one line."""
import dataclasses
from typing import NamedTuple

import flax.linen as nn
import numpy as np
import pytest
import torch

from parity import compare
from parity.check import ParityInputError

X = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)


class Pair(NamedTuple):
    logits: object
    hidden: object


@dataclasses.dataclass
class Out:
    logits: object
    hidden: object


class TorchNamed(torch.nn.Module):
    def __init__(self, kind=Pair):
        super().__init__()
        self.fc, self.kind = torch.nn.Linear(4, 4), kind

    def forward(self, x, scale=None):
        h = self.fc(x)
        return self.kind(logits=h * (1.0 if scale is None else scale), hidden=torch.tanh(h))


class FlaxNamed(nn.Module):
    kind: type = Pair
    width: int = 4

    @nn.compact
    def __call__(self, x, scale=None):
        h = nn.Dense(4, name="fc")(x)[..., :self.width]
        return self.kind(logits=h * (1.0 if scale is None else scale), hidden=nn.tanh(h))


@pytest.mark.parametrize("kind", [Pair, Out])
def test_named_tuple_and_dataclass_outputs_are_compared_by_field(kind):
    torch.manual_seed(0)
    report = compare(TorchNamed(kind), FlaxNamed(kind), X)
    assert report.ok, report
    assert {"logits", "hidden"} <= {r.tensor for r in report.rows}


def test_a_dict_of_inputs_goes_by_keyword():
    torch.manual_seed(0)
    report = compare(TorchNamed(), FlaxNamed(), {"x": X, "scale": np.full((3, 4), 2.0, np.float32)})
    assert report.ok, report
    assert "grad[input[scale]]" in {r.tensor for r in report.rows}


def test_a_float32_module_compared_in_float64_runs_as_a_copy():
    torch.manual_seed(0)
    tmod = TorchNamed()
    report = compare(tmod, FlaxNamed(), X, dtype="float64")
    assert report.ok and any("ran as a float64 copy" in n for n in report.notes), report
    assert tmod.fc.weight.dtype == torch.float32  # the module given is left as it was


def test_an_output_of_another_shape_is_a_failed_row_not_an_input_error():
    torch.manual_seed(0)
    report = compare(TorchNamed(), FlaxNamed(width=3), X, layers=False)
    assert not report.ok
    assert any("torch's has shape (3, 4), Flax's (3, 3): the outputs differ in shape" in p for p in report.problems)


@pytest.mark.parametrize("args,line", [
    (lambda: (FlaxNamed(), TorchNamed(), X), "the modules are swapped"),
    (lambda: (TorchNamed, FlaxNamed(), X), "the class TorchNamed; expected a torch.nn.Module instance (call the class"),
    (lambda: (TorchNamed(), FlaxNamed, X), "the class FlaxNamed; expected a flax.linen.Module or flax.nnx.Module"),
    (lambda: (TorchNamed(), FlaxNamed(), None), "an input is None"),
])
def test_a_mistake_in_the_arguments_is_one_line(args, line):
    with pytest.raises(ParityInputError, match=__import__("re").escape(line)):
        compare(*args())
    with pytest.raises(ParityInputError, match="rules is str 'x'; expected a parity.rules.Rules"):
        compare(TorchNamed(), FlaxNamed(), X, rules="x")

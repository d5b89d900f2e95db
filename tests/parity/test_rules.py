"""parity's public API on pairs of one's own: rules a user extends (renames, transforms, tied and ignored keys),
mismatch messages that suggest the rule, and compare()/assert_parity/the parity_check fixture on small pairs,
including the cases where they must fail."""
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from parity import (DEFAULT_RULES, ParityError, Rules, WeightMismatchError, assert_parity, compare, leaf, permute,
                    rename, reshape)
from parity.bridge import abstract_params, flax_to_torch, torch_state, torch_to_flax


class TorchMLP(torch.nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.up = torch.nn.Linear(width, 4 * width)
        self.down = torch.nn.Linear(4 * width, width)

    def forward(self, x):
        return self.down(torch.nn.functional.gelu(self.up(x)))  # (B, C) -> (B, 4C) -> (B, C)


class FlaxMLP(nn.Module):
    width: int = 16
    approximate: bool = False

    @nn.compact
    def __call__(self, x):
        h = nn.gelu(nn.Dense(4 * self.width, name="up")(x), approximate=self.approximate)  # (B, C) -> (B, 4C)
        return nn.Dense(self.width, name="down")(h)  # (B, 4C) -> (B, C)


X = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)  # (B, C)


def mlp_pair(**flax):
    torch.manual_seed(0)
    return TorchMLP(), FlaxMLP(**flax)


# --- rules -------------------------------------------------------------------------------------------------

def test_default_rules_are_todays_mapping():
    assert DEFAULT_RULES.module_name(("contextualizer", "layers_0", "sa", "heads_3")) == "contextualizer.0.sa.heads.3"
    assert DEFAULT_RULES.module_name(()) == ""
    key, transform = DEFAULT_RULES.torch_key(("lm_head", "kernel"))
    assert (key, transform.name) == ("lm_head.weight", "transpose")


def test_a_users_rules_come_first_and_may_drop_a_segment():
    rules = DEFAULT_RULES.extend(rename(r"ln_(\d+)", r"ln_\1"), rename("wrapper", ""),
                                 leaf("kernel", "weight", "none", under=r"\.c_fc$"))
    assert DEFAULT_RULES.module_name(("h", "ln_1")) == "h.ln.1"  # the default reads ln_1 as a list entry
    assert rules.module_name(("wrapper", "h", "ln_1")) == "h.ln_1"
    assert rules.torch_key(("mlp", "c_fc", "kernel"))[1].name == "none"
    assert rules.torch_key(("mlp", "c_proj", "kernel"))[1].name == "transpose"
    assert DEFAULT_RULES.torch_key(("mlp", "c_fc", "kernel"))[1].name == "transpose", "extend changed the defaults"
    combined = Rules(renames=(rename("a", "b"),)) + DEFAULT_RULES
    assert combined.module_name(("a", "heads_2")) == "b.heads.2"


def test_an_unknown_leaf_names_the_parameter_and_the_remedy():
    with pytest.raises(WeightMismatchError, match=r"no rule for the Flax parameter blk/mystery; known leaves: .*"
                                                  r"add one: leaf\(pattern, torch_name, transform\)"):
        DEFAULT_RULES.torch_key(("blk", "mystery"))
    with pytest.raises(ValueError, match="unknown transform 'flip'"):
        leaf("kernel", "weight", "flip")
    with pytest.raises(TypeError, match="expected rename"):
        DEFAULT_RULES.extend("kernel")


@pytest.mark.parametrize("transform,torch_shape,flax_shape", [
    ("none", (3, 4), (3, 4)),
    ("transpose", (8, 3), (3, 8)),
    (permute(2, 3, 1, 0), (8, 3, 5, 7), (5, 7, 3, 8)),  # Conv2d (out, in, kh, kw) <-> Conv (kh, kw, in, out)
    (reshape(lambda s: (s[0], s[1] * s[2]), then="transpose"), (12, 16), (16, 3, 4)),  # Linear <-> DenseGeneral
])
def test_transforms_go_there_and_back_exactly(transform, torch_shape, flax_shape):
    rule = leaf("kernel", "weight", transform)
    array = np.random.default_rng(0).standard_normal(torch_shape)  # torch layout
    assert rule.transform.torch_shape(flax_shape) == torch_shape
    there = rule.transform.to_flax(array, flax_shape)
    assert there.shape == flax_shape
    assert np.array_equal(rule.transform.to_torch(there), array)


def test_a_reshaped_kernel_computes_what_torch_computes():
    """A torch Linear carried into a Flax DenseGeneral (features (3, 4)) by a reshape rule: same numbers."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 12, bias=False)
    dense = nn.DenseGeneral(features=(3, 4), use_bias=False)
    rules = DEFAULT_RULES.extend(leaf("kernel", "weight", reshape(lambda s: (s[0], s[1] * s[2]), then="transpose")))
    params = torch_to_flax({"weight": lin.weight}, abstract_params(dense, X), rules)
    got = np.asarray(dense.apply({"params": params}, X)).reshape(4, 12)  # (B, 3, 4) -> (B, 12)
    assert np.abs(got - lin(torch.from_numpy(X)).detach().numpy()).max() <= 1e-6
    assert np.array_equal(flax_to_torch(params, rules)["weight"], lin.weight.detach().numpy())


def test_tied_and_ignored_keys():
    rules = DEFAULT_RULES.extend(tied={"head.weight": "embed.weight"}, ignored=[r".*\.num_batches_tracked"])
    template = {"embed": {"embedding": jax.ShapeDtypeStruct((5, 3), jnp.float32)}}
    w = np.arange(15, dtype=np.float32).reshape(5, 3)
    weights = {"embed.weight": w, "head.weight": w.copy(), "bn.num_batches_tracked": np.zeros(())}
    params = torch_to_flax(weights, template, rules)
    assert np.array_equal(params["embed"]["embedding"], w)
    back = flax_to_torch(params, rules)
    assert sorted(back) == ["embed.weight", "head.weight"] and np.array_equal(back["head.weight"], w)
    assert sorted(flax_to_torch(params, rules, tied=False)) == ["embed.weight"]
    with pytest.raises(WeightMismatchError, match="the tied key 'head.weight' differs from 'embed.weight'"):
        torch_to_flax(dict(weights, **{"head.weight": w + 1}), template, rules)
    with pytest.raises(WeightMismatchError, match=r"unexpected key 'head.weight' \(shape \(5, 3\)\)"):
        torch_to_flax(weights, template, DEFAULT_RULES.extend(ignored=[r".*num_batches_tracked"]))


# --- mismatch messages --------------------------------------------------------------------------------------

def test_a_transposed_tensor_is_named_with_both_shapes_and_the_rule_to_add():
    tmod, fmod = mlp_pair()
    template = abstract_params(fmod, X)
    state = torch_state(tmod)
    state["up.weight"] = state["up.weight"].T.copy()  # (16, 64): the transpose of the (64, 16) expected
    with pytest.raises(WeightMismatchError) as failed:
        torch_to_flax(state, template)
    assert ("key 'up.weight' has shape (16, 64), Flax model expects (64, 16): looks transposed: the rule for the "
            "Flax parameter 'up/kernel' applies 'transpose'; make it leaf(..., 'none') for this tensor"
            ) in str(failed.value)
    untransposed = DEFAULT_RULES.extend(leaf("kernel", "weight", "none"))
    with pytest.raises(WeightMismatchError, match=r"key 'up.weight' has shape \(64, 16\), Flax model expects "
                                                  r"\(16, 64\): looks transposed: add a transpose rule for the Flax "
                                                  r"parameter 'up/kernel'"):
        torch_to_flax(torch_state(tmod), template, untransposed)


def test_a_renamed_key_is_suggested_and_long_lists_are_counted():
    tmod, fmod = mlp_pair()
    state = {k.replace("up.", "w_in."): v for k, v in torch_state(tmod).items()}
    with pytest.raises(WeightMismatchError, match=r"missing key 'up.weight' \(expected shape \(64, 16\)\): the "
                                                  r"unexpected key 'w_in.weight' has that shape \(a rename rule\?\)"):
        torch_to_flax(state, abstract_params(fmod, X))
    many = {f"extra.{i}": np.zeros(2) for i in range(9)}
    with pytest.raises(WeightMismatchError) as failed:
        torch_to_flax(dict(torch_state(tmod), **many), abstract_params(fmod, X))
    message = str(failed.value)
    assert "(9 unexpected)" in message and "... and 4 more unexpected keys" in message
    assert message.count("unexpected key 'extra.") == 5


# --- compare, assert_parity, the fixture ------------------------------------------------------------------

def test_a_faithful_port_passes_and_every_layer_is_compared():
    report = compare(*mlp_pair(), X)
    assert report.ok, report
    assert [(layer.name, layer.compared) for layer in report.layers] == [("up", True), ("down", True), ("", True)]
    assert {r.tensor for r in report.rows} == {"output", "grad[up.weight]", "grad[up.bias]", "grad[down.weight]",
                                               "grad[down.bias]", "grad[input]"}
    assert report.first_divergence is None and "no layer's input or output is above the bound" in str(report)


def test_a_planted_difference_fails_at_the_right_layer():
    """The tanh GELU in Flax: 'down' is the first layer whose input differs, right after 'up', which agrees."""
    report = compare(*mlp_pair(approximate=True), X)
    assert not report.ok
    first = report.first_divergence
    assert first.name == "down" and not first.input_ok
    assert "after layer 1, up (the last that agrees)" in report.verdict()
    table = str(report)
    assert "down     Linear" in table and "<-- first divergence" in table


def test_weights_that_differ_in_one_entry_fail_in_float64_too():
    tmod, fmod = mlp_pair()
    tmod = tmod.double()
    params = torch_to_flax(torch_state(tmod), abstract_params(fmod, X))
    params["down"]["bias"] = params["down"]["bias"].copy()
    params["down"]["bias"][3] += 1e-9  # one entry, far below float32's resolution, far above float64's bound
    report = compare(tmod, fmod, X.astype(np.float64), variables={"params": params})
    assert report.dtype == "float64" and not report.ok
    assert report.first_divergence.name == "down" and report.first_divergence.input_ok


def test_assert_parity_raises_an_assertion_error_carrying_the_report():
    with pytest.raises(ParityError) as failed:
        assert_parity(*mlp_pair(approximate=True), X)
    assert isinstance(failed.value, AssertionError)
    assert "first divergence: layer 2, down (Linear)" in str(failed.value)
    assert not failed.value.report.ok
    assert assert_parity(*mlp_pair(), X).ok


def test_the_fixture_comes_from_the_installed_plugin(parity_check, capsys):
    report = parity_check(*mlp_pair(), X)
    assert report.ok and "parity of TorchMLP vs FlaxMLP [float32]: pass" in capsys.readouterr().out
    with pytest.raises(ParityError):
        parity_check(*mlp_pair(approximate=True), X)


def test_the_plugin_is_an_entry_point_and_importing_it_loads_no_framework():
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="pytest11") if e.name == "parity"] == ["parity.pytest_plugin"]
    code = ("import sys, parity, parity.rules, parity.pytest_plugin\n"
            "print(sorted(m for m in ('torch', 'jax', 'flax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_outputs_a_loss_and_named_weights():
    """A tuple output named, a cross-entropy loss against targets compared and added to the gradient scalar."""
    class TorchTwo(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(16, 5)

        def forward(self, x):
            y = self.lin(x)  # (B, 5)
            return y, y.sum(-1)  # (B, 5), (B,)

    class FlaxTwo(nn.Module):
        @nn.compact
        def __call__(self, x):
            y = nn.Dense(5, name="lin")(x)  # (B, 5)
            return y, y.sum(-1)  # (B, 5), (B,)

    torch.manual_seed(0)
    targets = np.array([0, 1, 2, 4])
    report = compare(TorchTwo(), FlaxTwo(), X, output_names=("logits", "total"), loss="cross_entropy",
                     targets=targets, weights={"total": 0.0})
    assert report.ok, report
    assert {"logits", "total", "loss"} <= {r.tensor for r in report.rows}
    with pytest.raises(ValueError, match="a loss needs targets"):
        compare(TorchTwo(), FlaxTwo(), X, loss="cross_entropy")

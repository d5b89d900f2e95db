"""The pytest plugin's fixture (parity/pytest_plugin.py): a mistake in parity_check's arguments (swapped
modules, a class, None, rules that are not Rules, a dict input) fails the test with one line naming the argument,
before anything runs; train_steps= trains both sides through parity.train (with inputs and targets, or batches
alone) and fails with its report. Run as a user runs it: the fixture comes from the installed plugin, and
pytester runs a test file of a user's in a pytest of its own.
"""
import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

pytest_plugins = ["pytester"]

X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
Y = np.array([0, 2, 1, 2])


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 8)
        self.out = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.out(torch.tanh(self.fc(x)))  # (B, 6) -> (B, 8) -> (B, 3)


class FlaxNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3, name="out")(jnp.tanh(nn.Dense(8, name="fc")(x)))  # (B, 6) -> (B, 8) -> (B, 3)


def net():
    torch.manual_seed(0)
    return TorchNet()


def one_line_failure(call):
    with pytest.raises(pytest.fail.Exception) as failed:
        call()
    text = str(failed.value)
    assert "\n" not in text and not failed.value.pytrace, text
    return text


@pytest.mark.parametrize("args, kwargs, message", [
    ((FlaxNet(), net(), X), {}, "parity_check: the modules are swapped: the torch module comes first, then the "
                                "Flax one"),
    ((TorchNet, FlaxNet(), X), {}, "parity_check: the first module is the class TorchNet; expected a "
                                   "torch.nn.Module instance (call the class to build one)"),
    ((net(), FlaxNet, X), {}, "parity_check: the second module is the class FlaxNet; expected a flax.linen.Module "
                              "or flax.nnx.Module instance (call the class to build one)"),
    ((None, FlaxNet(), X), {}, "parity_check: the first module is a NoneType; expected a torch.nn.Module"),
    ((net(), None, X), {}, "parity_check: the second module is a NoneType; expected a flax.linen.Module"),
    ((net(), FlaxNet(), X), {"rules": "x"}, "parity_check: rules is str 'x'; expected a parity.rules.Rules"),
    ((net(), FlaxNet(), {"x": {"y": X}}), {}, "parity_check: an input is a dict; expected arrays (one, a tuple, or "
                                              "a dict of keyword arguments)"),
    ((net(), FlaxNet(), {"x": "text"}), {}, "parity_check: an input is a str; expected arrays"),
    ((net(), FlaxNet(), {0: X}), {}, "parity_check: inputs has the key 0; a dict of inputs is keyed by argument"),
    ((net(), FlaxNet(), (X, "y")), {}, "parity_check: an input is a str; expected arrays"),
    ((net(), FlaxNet(), None), {}, "parity_check: an input is None; expected arrays"),
    ((net(), FlaxNet(), X), {"optimizer": "adamw"}, "parity_check: optimizer given without train_steps"),
    ((net(), FlaxNet(), X), {"train_steps": 0}, "parity_check: train_steps=0; expected an integer >= 1"),
    ((net(), FlaxNet(), X), {"train_steps": 2}, "parity_check: train_steps needs batches="),
])
def test_a_mistake_in_parity_check_is_one_line_naming_the_argument(parity_check, args, kwargs, message):
    assert message in one_line_failure(lambda: parity_check(*args, **kwargs))


def test_a_mistake_found_by_training_is_one_line_naming_the_fixture(parity_check):
    text = one_line_failure(lambda: parity_check(net(), FlaxNet(), X, targets=Y, train_steps=3, optimizer="adam_w"))
    assert text.startswith("parity_check: unknown optimizer 'adam_w'")
    text = one_line_failure(lambda: parity_check(net(), FlaxNet(), None, batches=[X], train_steps=3))
    assert text.startswith("parity_check: ") and "(inputs, targets)" in text
    text = one_line_failure(lambda: parity_check(FlaxNet(), net(), None, batches=[(X, Y)], train_steps=3))
    assert text.startswith("parity_check: the modules are swapped")


def test_parity_check_trains_both_sides_and_fails_with_the_training_report(parity_check, capsys):
    report, trained = parity_check(net(), FlaxNet(), X, loss="cross_entropy", targets=Y, train_steps=20,
                                   dtype="float64")
    assert report.ok and trained.ok and len(trained.rows) == 20
    assert "training parity of TorchNet vs FlaxNet [float64], adamw" in capsys.readouterr().out
    with pytest.raises(AssertionError) as failed:  # optax.adamw decays by 1e-4, torch's AdamW by 1e-2
        parity_check(net(), FlaxNet(), None, batches=[(X, Y)], train_steps=20, dtype="float64",
                     optimizer=(lambda p: torch.optim.AdamW(p, lr=1e-3), optax.adamw(1e-3)))
    assert "first divergence: step 1, parameter" in str(failed.value)
    assert "likely cause: weight decay: the Flax parameters are AdamW's with weight_decay=0.0001" in str(failed.value)


def test_parity_check_trains_on_batches_alone(parity_check):
    report = parity_check(net(), FlaxNet(), None, batches=[(X, Y)], train_steps=20, dtype="float64")
    assert report.ok and len(report.rows) == 20


def test_a_users_test_file_fails_with_the_one_line_and_no_traceback(pytester):
    """What a user sees: the failing test's line names the fixture's argument, and no frame of the plugin."""
    pytester.makepyfile(test_port="""
        import flax.linen as nn, numpy as np, torch

        def test_swapped(parity_check):
            parity_check(nn.Dense(3), torch.nn.Linear(6, 3), np.zeros((2, 6), np.float32))

        def test_class(parity_check):
            parity_check(torch.nn.Linear, nn.Dense(3), np.zeros((2, 6), np.float32))
    """)
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "parity_check: the modules are swapped: the torch module comes first, then the Flax one" in out
    assert "parity_check: the first module is the class Linear; expected a torch.nn.Module instance (call the " \
        "class to build one)" in out
    assert "pytest_plugin.py" not in out and "Traceback" not in out


def test_parity_check_trains_with_a_loss_by_name(parity_check):
    """mse of the first output against float targets, 3 steps, and a planted weight decay found at step 1."""
    targets = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    assert parity_check(net(), FlaxNet(), None, batches=[(X, targets)], train_steps=3, loss="mse", dtype="float64").ok
    with pytest.raises(AssertionError, match="first divergence: step 1"):
        parity_check(net(), FlaxNet(), None, batches=[(X, targets)], train_steps=3, loss="mse", dtype="float64",
                     optimizer=(lambda p: torch.optim.AdamW(p, lr=1e-3), optax.adamw(1e-3)))

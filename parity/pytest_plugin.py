"""The pytest plugin: installing learngpt registers it (pyproject.toml, [project.entry-points.pytest11]), so
every test can ask for the `parity_check` and `parity_train_check` fixtures without importing anything:

    def test_my_port(parity_check):
        parity_check(torch_model, flax_model, x)  # fails with the layer table, the first divergent layer marked
        parity_check(torch_model, flax_model, x, train_steps=20, batches=[(x, y)])  # and 20 AdamW steps

    def test_my_training(parity_train_check):
        parity_train_check(torch_model, flax_model, batches, steps=20, optimizer="adamw")

flax_model is a flax.linen.Module or a flax.nnx.Module (parity.check.compare takes either).

parity_check is parity.check.assert_parity that also prints the report (`pytest -s` shows the measured maxima);
it takes compare()'s keywords (rules=, flax_kwargs=, loss=, targets=, dtype=, ...). With train_steps=N it then
trains both sides N steps (parity.train.compare_training) on `batches` (default: [(inputs, targets)]) with
`optimizer` (default "adamw") and `lr`, and fails with that report when a step leaves the bound. A mistake in
the arguments (swapped modules, a class instead of an instance, None, rules that are not Rules, inputs compare
cannot take) fails the test with one line naming the argument, before anything runs. Importing this module
imports no framework: pytest loads it in every run.
"""
from __future__ import annotations

import pytest

TRAIN_KEYWORDS = ("optimizer", "batches", "lr", "train_bound")  # parity_check's, beside train_steps
SHARED_KEYWORDS = ("rules", "loss", "dtype", "torch_kwargs", "flax_kwargs")  # given to compare and to training


def assert_parity(torch_module, flax_module, inputs, **kwargs):
    """parity.check.assert_parity: compare, and raise ParityError (an AssertionError whose message is the
    report) when a bound is broken; returns the report."""
    from parity.check import assert_parity as check

    return check(torch_module, flax_module, inputs, **kwargs)


def _refuse(fixture: str, message: str):
    """Fail the test with one line (no traceback into the plugin): the argument and what was expected."""
    pytest.fail(f"{fixture}: {message}", pytrace=False)


def _is_array(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type)


def _check_inputs(fixture: str, inputs) -> None:
    """An array, a tuple of arrays (passed positionally) or a dict of arrays by name (passed by keyword);
    numbers and nested lists of numbers count as arrays."""
    import numpy as np

    def one(x, where):
        if x is None or isinstance(x, (str, bytes, type)) or callable(x) and not _is_array(x):
            _refuse(fixture, f"{where} is {'None' if x is None else 'a ' + type(x).__name__}; expected an array "
                             f"(numpy, torch or jax)")
        if isinstance(x, dict) or hasattr(x, "keys") and not _is_array(x):
            _refuse(fixture, f"{where} is a {type(x).__name__}; expected an array: inputs are an array, a tuple of "
                             f"arrays or a dict of arrays by argument name, one level deep")
        if not _is_array(x):
            try:
                kind = np.asarray(x).dtype.kind
            except Exception:  # ragged lists and other objects numpy cannot hold
                kind = "O"
            if kind not in "biuf":
                _refuse(fixture, f"{where} is a {type(x).__name__} that is no array of numbers; expected an array")

    if isinstance(inputs, dict) or hasattr(inputs, "keys") and not _is_array(inputs):
        if not inputs:
            _refuse(fixture, "inputs is an empty dict; expected arrays by argument name")
        for name, x in inputs.items():
            if not isinstance(name, str):
                _refuse(fixture, f"inputs has the key {name!r}; a dict of inputs is keyed by argument name")
            one(x, f"inputs[{name!r}]")
    elif isinstance(inputs, tuple):
        if not inputs:
            _refuse(fixture, "inputs is an empty tuple; expected an array or a tuple of arrays")
        for i, x in enumerate(inputs):
            one(x, f"inputs[{i}]")
    else:
        one(inputs, "inputs")


def _check_modules(fixture: str, torch_module, flax_module) -> None:
    from parity.check import ParityInputError
    from parity.train import check_modules

    try:
        check_modules(torch_module, flax_module, where=fixture)
    except ParityInputError as err:
        pytest.fail(str(err), pytrace=False)


def _check_rules(fixture: str, kwargs) -> None:
    if kwargs.get("rules") is None:
        return
    from parity.rules import Rules

    if not isinstance(kwargs["rules"], Rules):
        _refuse(fixture, f"rules is a {type(kwargs['rules']).__name__}; expected parity.rules.Rules "
                         f"(parity.DEFAULT_RULES.extend(...))")


def _train(fixture: str, torch_module, flax_module, batches, steps, kwargs):
    """The training trajectory (compare(..., train_steps=N), which pairs the modules as compare does, then
    parity.train.compare_training; compare_training itself where compare takes no train_steps), its report
    printed; a ParityInputError is the test's one-line failure, a step out of bound a TrainingParityError (an
    AssertionError whose message is the report)."""
    import inspect

    from parity.check import ParityInputError, compare
    from parity.train import TrainingParityError, compare_training

    if kwargs.get("rules", 0) is None:  # None: the default rules, which compare names otherwise
        kwargs = {k: v for k, v in kwargs.items() if k != "rules"}
    try:
        if "train_steps" in inspect.signature(compare).parameters:
            report = compare(torch_module, flax_module, batches, train_steps=steps, **kwargs)
        else:
            report = compare_training(torch_module, flax_module, batches, steps=steps, **kwargs)
    except ParityInputError as err:
        message = str(err).replace("compare_training:", f"{fixture}:", 1)
        pytest.fail(message if message.startswith(fixture) else f"{fixture}: {message}", pytrace=False)
    print(report)
    if not report.ok:
        raise TrainingParityError(report)
    return report


@pytest.fixture
def parity_check():
    """A function (torch_module, flax_module, inputs, **compare_keywords) -> Report that prints the report and
    fails the test, with the report as the message, when a bound is broken; with train_steps=N (and batches=,
    optimizer=, lr=, train_bound=) it also trains both N steps and returns (Report, TrainingReport)."""

    def check(torch_module=None, flax_module=None, inputs=None, *, train_steps=None, **kwargs):
        _check_modules("parity_check", torch_module, flax_module)
        _check_rules("parity_check", kwargs)
        training = {k: kwargs.pop(k) for k in TRAIN_KEYWORDS if k in kwargs}
        if train_steps is None and training:
            _refuse("parity_check", f"{', '.join(sorted(training))} given without train_steps; pass train_steps=N "
                                    f"to train both sides N steps")
        if inputs is None and train_steps is None:
            _refuse("parity_check", "inputs is None; expected an array or a tuple of arrays")
        if train_steps is not None and (isinstance(train_steps, bool) or not isinstance(train_steps, int)
                                        or train_steps < 1):
            _refuse("parity_check", f"train_steps={train_steps!r}; expected an integer >= 1")
        if train_steps is not None:
            if training.get("batches") is None and (inputs is None or kwargs.get("targets") is None):
                _refuse("parity_check", "train_steps needs batches=[(inputs, targets), ...], or inputs and targets=")
            from parity.check import ParityInputError
            from parity.train import check_optimizer

            try:
                check_optimizer(training.get("optimizer", "adamw"), "parity_check")
            except ParityInputError as err:
                _refuse("parity_check", str(err).split(": ", 1)[1])
        report = None
        if inputs is not None:
            _check_inputs("parity_check", inputs)
            from parity.check import ParityError, ParityInputError, compare

            try:
                report = compare(torch_module, flax_module, inputs, **kwargs)
            except ParityInputError as err:
                _refuse("parity_check", str(err))
            except TypeError as err:
                if "unexpected keyword argument" not in str(err):
                    raise
                _refuse("parity_check", f"{str(err).split('() ', 1)[-1]} (compare's keywords, and train_steps, "
                                        f"{', '.join(TRAIN_KEYWORDS)})")
            print(report)
            if not report.ok:
                raise ParityError(report)
        if train_steps is None:
            return report
        batches = training.pop("batches", None)
        if batches is None:
            batches = [(inputs, kwargs["targets"])]
        if "train_bound" in training:
            training["bound"] = training.pop("train_bound")
        shared = {k: kwargs[k] for k in SHARED_KEYWORDS if k in kwargs}
        if shared.get("loss") is None:
            shared.pop("loss", None)
        trained = _train("parity_check", torch_module, flax_module, batches, train_steps, {**shared, **training})
        return (report, trained) if report is not None else trained

    return check


@pytest.fixture
def parity_train_check():
    """A function (torch_module, flax_module, batches, steps=20, **compare_training_keywords) -> TrainingReport
    that prints the report and fails the test, with the report as the message, when a step leaves the bound."""

    def check(torch_module=None, flax_module=None, batches=None, steps=20, **kwargs):
        _check_modules("parity_train_check", torch_module, flax_module)
        _check_rules("parity_train_check", kwargs)
        if batches is None:
            _refuse("parity_train_check", "batches is None; expected a list of (inputs, targets) pairs or a callable "
                                          "step -> (inputs, targets)")
        try:
            return _train("parity_train_check", torch_module, flax_module, batches, steps, kwargs)
        except TypeError as err:
            if "unexpected keyword argument" not in str(err):
                raise
            _refuse("parity_train_check", f"{str(err).split('() ', 1)[-1]} (compare_training's keywords)")

    return check

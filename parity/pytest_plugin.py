"""The pytest plugin: installing learngpt registers it (pyproject.toml, [project.entry-points.pytest11]), so every
test can ask for the `parity_check` fixture without importing anything:

    def test_my_port(parity_check):
        parity_check(torch_model, flax_model, x)  # fails with the layer table, the first divergent layer marked
        parity_check(torch_model, flax_model, x, targets=y, train_steps=20)  # then 20 AdamW steps on (x, y)
        parity_check(torch_model, flax_model, None, batches=[(x, y), ...], train_steps=20)  # the steps alone

flax_model is a flax.linen.Module or a flax.nnx.Module. parity_check is parity.check.compare (its keywords:
rules=, flax_kwargs=, loss=, targets=, dtype=, ...) that prints the report (`pytest -s` shows the measured
maxima) and fails the test with it when a bound is broken. train_steps=N then trains both sides N steps,
compare(..., train_steps=N), on `batches` (default [(inputs, targets)]) with `optimizer` (default "adamw"), `lr`
and `train_bound`. A mistake in the arguments fails the test with one line, compare's ParityInputError, and no
traceback. Importing this module imports no framework: pytest loads it in every run.
"""
import pytest

TRAIN_KEYWORDS = ("optimizer", "batches", "lr", "train_bound")  # parity_check's, beside train_steps
SHARED_KEYWORDS = ("rules", "loss", "dtype", "torch_kwargs", "flax_kwargs")  # given to compare and to training


def _refuse(message: str):
    """Fail the test with one line (no traceback into the plugin)."""
    pytest.fail(f"parity_check: {message.removeprefix('compare_training: ')}", pytrace=False)


def _compare(torch_module, flax_module, inputs, **kwargs):
    """parity.check.compare, its report printed; a bound broken raises ParityError (an AssertionError whose
    message is the report)."""
    from parity.check import ParityError, ParityInputError, compare
    try:
        report = compare(torch_module, flax_module, inputs, **kwargs)
    except ParityInputError as err:
        _refuse(str(err))
    print(report)
    if not report.ok:
        raise ParityError(report)
    return report


@pytest.fixture
def parity_check():
    """(torch_module, flax_module, inputs, **compare_keywords) -> Report; with train_steps=N (and batches=,
    optimizer=, lr=, train_bound=) (Report, TrainingReport), or the TrainingReport alone where inputs is None."""

    def check(torch_module=None, flax_module=None, inputs=None, *, train_steps=None, **kwargs):
        from parity.check import ParityInputError, _check_modules
        training = {k: kwargs.pop(k) for k in TRAIN_KEYWORDS if k in kwargs}
        if train_steps is None and training:
            _refuse(f"{', '.join(sorted(training))} given without train_steps; pass train_steps=N to train both "
                    f"sides N steps")
        if train_steps is not None and (isinstance(train_steps, bool) or not isinstance(train_steps, int)
                                        or train_steps < 1):
            _refuse(f"train_steps={train_steps!r}; expected an integer >= 1")
        batches = training.pop("batches", None)
        if train_steps and batches is None:
            if inputs is None or kwargs.get("targets") is None:
                _refuse("train_steps needs batches=[(inputs, targets), ...], or inputs and targets=")
            batches = [(inputs, kwargs["targets"])]
        try:
            _check_modules(torch_module, flax_module, () if inputs is None and train_steps else inputs)
        except ParityInputError as err:
            _refuse(str(err))
        if isinstance(inputs, dict) and not all(isinstance(k, str) for k in inputs):
            _refuse(f"inputs has the key {next(k for k in inputs if not isinstance(k, str))!r}; a dict of inputs is "
                    f"keyed by argument name")
        if kwargs.get("rules", 0) is None:  # None: the default rules, on either path
            del kwargs["rules"]
        report = None if inputs is None else _compare(torch_module, flax_module, inputs, **kwargs)
        if not train_steps:
            return report
        if "train_bound" in training:
            training["bound"] = training.pop("train_bound")
        shared = {k: kwargs[k] for k in SHARED_KEYWORDS if kwargs.get(k) is not None}
        trained = _compare(torch_module, flax_module, batches, train_steps=train_steps, **shared, **training)
        return trained if report is None else (report, trained)

    return check

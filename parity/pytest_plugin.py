"""The pytest plugin: installing learngpt registers it (pyproject.toml, [project.entry-points.pytest11]), so
every test can ask for the `parity_check` fixture without importing anything:

    def test_my_port(parity_check):
        parity_check(torch_model, flax_model, x)  # fails with the layer table, the first divergent layer marked

flax_model is a flax.linen.Module or a flax.nnx.Module (parity.check.compare takes either).

The fixture is parity.check.assert_parity that also prints the report (`pytest -s` shows the measured maxima);
it takes compare()'s keywords (rules=, flax_kwargs=, loss=, targets=, dtype=, ...). Importing this module imports
no framework: pytest loads it in every run.
"""
from __future__ import annotations

import pytest


def assert_parity(torch_module, flax_module, inputs, **kwargs):
    """parity.check.assert_parity: compare, and raise ParityError (an AssertionError whose message is the
    report) when a bound is broken; returns the report."""
    from parity.check import assert_parity as check

    return check(torch_module, flax_module, inputs, **kwargs)


@pytest.fixture
def parity_check():
    """A function (torch_module, flax_module, inputs, **compare_keywords) -> Report that prints the report and
    fails the test, with the report as the message, when a bound is broken."""
    from parity.check import ParityError, compare

    def check(torch_module, flax_module, inputs, **kwargs):
        report = compare(torch_module, flax_module, inputs, **kwargs)
        print(report)
        if not report.ok:
            raise ParityError(report)
        return report

    return check

"""`learngpt parity --torch MODULE:FACTORY --flax MODULE:FACTORY --input SHAPE`: the full report for a pair a user
names, exit status 1 when a bound is broken, one-line mistakes (status 2) for bad flags. The pair lives in
tests/unit/port_pair.py."""
from pathlib import Path

import pytest

from learngpt_lab.cli import main

PAIR = ["parity", "--torch", "port_pair:torch_mlp", "--input", "4,16"]


@pytest.fixture(autouse=True)
def importable(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


def test_a_good_port_passes_in_both_dtypes(capsys):
    assert main(PAIR + ["--flax", "port_pair:flax_mlp", "--dtype", "both"]) == 0
    out = capsys.readouterr().out
    assert "parity of port_pair:torch_mlp vs port_pair:flax_mlp [float32]: pass" in out
    assert "[float64]: pass" in out
    assert "no layer's input or output is above the bound" in out
    for layer in ("up", "down", "(model)"):
        assert f"  {layer} " in out


def test_a_planted_bug_exits_1_naming_the_layer(capsys):
    assert main(PAIR + ["--flax", "port_pair:flax_mlp_tanh_gelu"]) == 1
    out = capsys.readouterr().out
    assert "[float32]: FAIL" in out
    assert "first divergence: layer 2, down (Linear)" in out
    assert "its input already differs" in out and "after layer 1, up (the last that agrees)" in out


def test_rules_from_a_module_and_a_factory_taking_dtype(capsys):
    argv = PAIR + ["--flax", "port_pair:flax_mlp_renamed", "--dtype", "float64"]
    assert main(argv + ["--rules", "port_pair:RENAMED"]) == 0
    assert "[float64]: pass" in capsys.readouterr().out
    assert main(argv) == 2  # without the renames, the weights do not fit
    err = capsys.readouterr().err
    assert ("missing key 'proj_in.weight' (expected shape (64, 16)): the unexpected key 'up.weight' has that "
            "shape") in err


@pytest.mark.parametrize("argv,message", [
    (["--flax", "port_pair:flax_mlp", "--input", "4,x"], "--input '4,x': expected comma-separated positive sizes"),
    (["--flax", "port_pair:flax_mlp", "--input", "4,0"], "--input '4,0': expected comma-separated positive sizes"),
    (["--input", "4,16"], "a pair needs --torch, --flax and --input; missing --flax"),
    (["--flax", "port_pair"], "--flax 'port_pair': expected MODULE:NAME"),
    (["--flax", "no_such_module:f"], "--flax 'no_such_module:f': cannot import 'no_such_module'"),
    (["--flax", "port_pair:nothing"], "module 'port_pair' has no attribute 'nothing'"),
    (["--flax", "port_pair:torch_mlp"],
     "--flax 'port_pair:torch_mlp' returned a TorchMLP; expected a flax.linen.Module"),
    (["--flax", "port_pair:flax_mlp", "--rules", "port_pair:NOT_RULES"],
     "--rules 'port_pair:NOT_RULES' is a dict; expected a parity.rules.Rules"),
    (["--flax", "port_pair:flax_mlp", "--component", "LayerNorm"], "--component compares the curriculum's components"),
])
def test_mistakes_are_one_line(capsys, argv, message):
    base = ["parity", "--torch", "port_pair:torch_mlp", "--input", "4,16"]
    if argv[0] == "--input":  # the missing-flag case
        base = ["parity", "--torch", "port_pair:torch_mlp"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_pair_flags_without_a_pair_are_refused(capsys):
    assert main(["parity", "--component", "LayerNorm", "--input", "4,16"]) == 2
    assert "--input need --torch and --flax" in capsys.readouterr().err

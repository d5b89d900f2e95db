"""`learngpt parity --torch MODULE:FACTORY --flax MODULE:FACTORY --input SHAPE`: the full report for a pair a user
names, exit status 1 when a bound is broken, one-line mistakes (status 2) for bad flags. The pair lives in
tests/unit/port_pair.py."""
import re
from pathlib import Path

import pytest

from learngpt_lab.cli import main
from helpers import one_line

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


# Issue 23 item 5 and issue 24 item 17: real models at the command line, and every mistake one line.



def test_a_port_needing_a_dropout_rng_is_one_line_and_deterministic_runs_it(capsys):
    argv = PAIR + ["--flax", "port_pair:flax_mlp_dropout"]
    one_line(capsys, argv, "the Flax module asks for the rng 'dropout' (dropout in training mode)")
    assert main(argv + ["--deterministic"]) == 0
    assert "[float32]: pass" in capsys.readouterr().out


def test_a_vocab_larger_than_the_embedding_is_one_line(capsys):
    argv = ["parity", "--torch", "port_pair:torch_embed", "--flax", "port_pair:flax_embed", "--input", "2,4"]
    assert main(argv + ["--vocab", "10"]) == 0
    capsys.readouterr()
    one_line(capsys, argv + ["--vocab", "1000"],
             "--vocab 1000: token ids up to 999 do not fit the model (index out of range in self); its embeddings "
             "have rows: wte 10")


def test_an_input_width_that_does_not_fit_is_one_line(capsys):
    one_line(capsys, ["parity", "--torch", "port_pair:torch_mlp", "--flax", "port_pair:flax_mlp", "--input", "4,17"],
             "--input '4,17': the models cannot run on it: RuntimeError: mat1 and mat2 shapes cannot be multiplied")


def test_a_huge_input_is_refused_before_anything_is_allocated(capsys):
    one_line(capsys, ["parity", "--torch", "port_pair:torch_mlp", "--flax", "port_pair:flax_mlp",
                      "--input", "100000,100000,100000"],
             "--input '100000,100000,100000': 1,000,000,000,000,000 values (8,000,000.0 GB) exceed the limit of")


@pytest.mark.parametrize("flag,spec,message", [
    ("--torch", "port_pair:torch_sized", "--torch 'port_pair:torch_sized' needs the argument width; expected a "
                                         "factory callable with no arguments (or dtype=)"),
    ("--torch", "port_pair:torch_broken", "--torch 'port_pair:torch_broken' raised RuntimeError: the checkpoint it "
                                          "wanted is not here"),
])
def test_a_factory_that_cannot_be_called_is_one_line(capsys, flag, spec, message):
    one_line(capsys, ["parity", "--torch", spec, "--flax", "port_pair:flax_mlp", "--input", "4,16"], message)


def test_factories_by_file_path(capsys, tmp_path):
    port = tmp_path / "my_port.py"
    port.write_text((Path(__file__).parent / "port_pair.py").read_text(encoding="utf-8"), encoding="utf-8")
    argv = ["parity", "--torch", f"{port}:torch_mlp", "--flax", f"{port}:flax_mlp", "--input", "4,16"]
    assert main(argv) == 0
    assert "[float32]: pass" in capsys.readouterr().out
    one_line(capsys, ["parity", "--torch", f"{tmp_path}/missing.py:f", "--flax", "port_pair:flax_mlp",
                      "--input", "4,16"], f"--torch '{tmp_path}/missing.py:f': no file '{tmp_path}/missing.py'")
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nraise NameError('name x is not defined')\n", encoding="utf-8")
    one_line(capsys, ["parity", "--torch", f"{bad}:f", "--flax", "port_pair:flax_mlp", "--input", "4,16"],
             f"running {bad} raised NameError: name x is not defined")


def test_a_pair_factory_with_flax_keywords_and_a_loss(capsys):
    assert main(["parity", "--pair", "port_pair:mlp_pair", "--dtype", "both", "--layers"]) == 0
    out = capsys.readouterr().out
    assert "[float32]: pass" in out and "[float64]: pass" in out
    assert out.index("weights carried by the rules (4 tensors)") < out.index("parity of port_pair:mlp_pair")
    assert re.search(r"up\.weight +-> +up/kernel +\(transpose\)", out)
    assert "layers, their Flax twins and the inputs compared:" in out
    assert main(["parity", "--pair", "port_pair:mlp_pair_with_loss"]) == 0
    out = capsys.readouterr().out
    assert "  loss " in out and "[float32]: pass" in out


@pytest.mark.parametrize("argv,message", [
    (["--pair", "port_pair:pair_of_two"], "--pair 'port_pair:pair_of_two' returned tuple of 2; expected "
                                          "(torch_module, flax_module, inputs[, flax_kwargs])"),
    (["--pair", "port_pair:pair_unknown_key"], "returned a dict with unknown keys ['flax_kwarg']"),
    (["--pair", "port_pair:mlp_pair", "--input", "4,16"], "--pair gives the modules and inputs; leave out --input"),
    (["--pair", "port_pair:mlp_pair", "--vocab", "9"], "--vocab draws the --input's token ids"),
    (["--torch", "port_pair:torch_mlp", "--flax", "port_pair:flax_mlp", "--input", "4,16", "--loss", "cross_entropy"],
     "--loss draws targets in [0, --vocab): give --vocab"),
    (["--deterministic"], "--deterministic need --torch and --flax"),
])
def test_pair_mistakes_are_one_line(capsys, argv, message):
    one_line(capsys, ["parity"] + argv, message)

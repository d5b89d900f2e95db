"""The learngpt command: user mistakes are one line on stderr and exit status 2, never a traceback."""
import re

import numpy as np
import pytest

from learngpt_lab.cli import main
from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt_lab import backends
from helpers import one_line

VOCAB = "\n !,.:;?abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
CFG = Config(vocab_size=len(VOCAB), n_layers=1)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A small untrained NanoGPT checkpoint, written by torch."""
    b = backends.get("torch")
    model = b.create(NANOGPT.recipe(CFG), seed=0)
    return b.save_checkpoint(tmp_path_factory.mktemp("cli") / "m.safetensors", model, CFG, VOCAB)


def test_unknown_backend(capsys):
    one_line(capsys, ["train", "--backend", "mxnet"], "unknown backend 'mxnet'", "torch, flax")
    one_line(capsys, ["compare", "--backends", "torch,jaxx"], "unknown backend 'jaxx'")


def test_unknown_backend_for_generate(capsys, ckpt):
    one_line(capsys, ["generate", "--checkpoint", str(ckpt), "--backend", "tf"], "unknown backend 'tf'")


def test_missing_checkpoint(capsys, tmp_path):
    one_line(capsys, ["generate", "--checkpoint", str(tmp_path / "none.safetensors")], "not found")


def test_corrupt_checkpoint(capsys, tmp_path, ckpt):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint at all")
    one_line(capsys, ["generate", "--checkpoint", str(junk)], "junk.safetensors")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(ckpt.read_bytes()[:-64])
    one_line(capsys, ["generate", "--checkpoint", str(truncated)], "truncated")


def test_prompt_outside_vocabulary(capsys, ckpt):
    one_line(capsys, ["generate", "--checkpoint", str(ckpt), "--prompt", "caf\u00e9"], "\u00e9",
             "not in the vocabulary")


def test_bad_flag_values(capsys):
    one_line(capsys, ["compare", "--iters", "0"], "--iters", "positive integer")
    one_line(capsys, ["train", "--backend", "torch", "--batch-size", "many"], "--batch-size")
    one_line(capsys, ["generate", "--checkpoint", "x", "--tokens", "-5"], "--tokens")
    one_line(capsys, ["compare", "--device", "tpu"], "unknown device 'tpu'")
    one_line(capsys, ["parity", "--component", "Nope"], "unknown component 'Nope'")


def test_inconsistent_sizes(capsys, tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("hello world, a small corpus for a quick config check\n" * 20)
    one_line(capsys, ["train", "--backend", "torch", "--data", str(corpus), "--n-heads", "3"], "16", "3")
    one_line(capsys, ["compare", "--data", str(corpus), "--dropout", "1.5"], "dropout")


def test_corpus_not_found(capsys, tmp_path):
    one_line(capsys, ["train", "--backend", "flax", "--data", str(tmp_path / "nowhere.txt")], "corpus not found")
    one_line(capsys, ["compare", "--data", str(tmp_path / "nowhere.txt")], "corpus not found")


def test_generate_works_in_either_backend(capsys, ckpt):
    texts = {}
    for name in backends.NAMES:
        assert main(["generate", "--checkpoint", str(ckpt), "--backend", name, "--prompt", "To be", "--tokens", "12",
                     "--greedy"]) == 0
        texts[name] = capsys.readouterr().out
        assert texts[name].startswith("To be") and len(texts[name].rstrip("\n")) >= len("To be")
    assert texts["torch"] == texts["flax"]


def test_parity_prints_a_table(capsys):
    assert main(["parity", "--component", "LayerNorm"]) == 0
    out = capsys.readouterr().out
    assert "LayerNorm" in out and "1/1 components pass" in out


@pytest.mark.parametrize("command", ["learngpt", "compare", "train", "generate", "parity", "questions", "bench",
                                     "lesson", "attention"])
def test_every_flag_states_its_default(command):
    """Every flag's help says its default or that it is required (issue 26, item 12)."""
    import argparse

    from learngpt_lab.cli import COMMANDS, build_parser
    parser, _ = build_parser([] if command == "learngpt" else [command])
    if command != "learngpt":
        assert command in COMMANDS
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    missing = [a.option_strings or a.dest for a in parser._actions
               if not isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))
               and not re.search(r"\b(default|required)\b", a.help or "")]
    assert not missing, f"{command}: flags whose help states no default: {missing}"


def test_the_top_level_help_describes_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "learngpt_lab" not in out and "import" not in out
    for name in ("lesson", "attention", "train", "generate", "parity"):
        assert f"learngpt {name} " in out, name

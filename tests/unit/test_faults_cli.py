"""A mistake on the command line is one line on stderr and exit status 2, naming the flag and what it expected;
nothing is trained or written first. Argparse's own refusals (a seed out of range, a word for a number) say so in
the same one line with a pointer to --help; a flag that would do nothing with the others (--torch-compile for a
Flax run, with --nproc or --resume) is refused, never dropped; JAX told of no CPU platform is one line on every
command that runs JAX. Only the project's own error types are one line: a bug inside is the traceback it is, and
LEARNGPT_DEBUG set to a true value shows the traceback of a user's mistake too."""
import os
import subprocess
import sys

import pytest

from learngpt_lab import backends
from learngpt_lab.cli import main
from parity.weights import WeightsFileError
from helpers import QUICK, TINY, one_line, tiny_checkpoint


# Numbers and seeds.

@pytest.mark.parametrize("rate", ["nan", "inf", "-1"])
def test_a_learning_rate_that_is_not_a_positive_number_is_refused(capsys, tmp_path, rate):
    one_line(capsys, ["train", "--backend", "flax", "--learning-rate", rate, "--out", str(tmp_path)] + QUICK,
             "learning_rate must be a positive finite number")


def test_a_negative_learning_rate_in_exponent_form_is_a_value(capsys, tmp_path):
    one_line(capsys, ["train", "--backend", "torch", "--learning-rate", "-1e-3", "--out", str(tmp_path)] + QUICK,
             "learning_rate must be a positive finite number")


@pytest.mark.parametrize("seed", ["99999999999999999999", "-1", "x"])
def test_a_bad_seed_names_the_flag(capsys, tmp_path, seed):
    one_line(capsys, ["train", "--backend", "flax", "--seed", seed, "--out", str(tmp_path)] + QUICK,
             "argument --seed: expected an integer in [0, 2147483647]")


@pytest.mark.parametrize("seed", ["-5", "99999999999999999999"])
def test_parity_refuses_a_seed_out_of_range_as_the_other_commands_do(capsys, seed):
    one_line(capsys, ["parity", "--component", "HeadVer1", "--seed", seed], "expected an integer in [0, 2147483647]")


def test_an_argparse_mistake_is_one_line_with_a_pointer_to_help(capsys):
    one_line(capsys, ["train", "--backend", "torch", "--batch-size", "many"], "argument --batch-size",
             "(see learngpt train --help)")


# Empty values and flags that do not fit together.

def test_an_empty_only_is_refused(capsys):
    one_line(capsys, ["questions", "--only", ""], "has an empty name")


def test_lesson_html_empty_is_refused(capsys):
    one_line(capsys, ["lesson", "HeadVer4", "--no-live", "--html", ""], "--html is empty")


def test_attention_backends_empty_is_refused_as_compare_refuses_it(capsys, tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors")
    one_line(capsys, ["attention", "--checkpoint", str(ckpt), "--prompt", "ab", "--backends", "",
                      "--out", str(tmp_path / "a.png")], "--backends is empty")
    assert not (tmp_path / "a.png").exists()


def test_compare_names_the_flag_that_does_not_divide_the_batch(capsys, tmp_path):
    err = one_line(capsys, ["compare", "--devices", "3", "--out", str(tmp_path)] + QUICK, "--devices")
    assert "--nproc" not in err


@pytest.mark.parametrize("argv, said", [
    (["train", "--backend", "flax"], "--backend flax trains no torch model"),
    (["train", "--backend", "nnx"], "--backend nnx trains no torch model"),
    (["train", "--backend", "torch", "--nproc", "2"], "data parallel"),
    (["compare", "--backends", "flax"], "--backends flax trains no torch model"),
    (["compare", "--nproc", "2"], "data parallel"),
])
def test_torch_compile_where_it_would_do_nothing_is_refused(capsys, tmp_path, argv, said):
    one_line(capsys, [*argv, "--torch-compile", "--out", str(tmp_path)] + TINY, "--torch-compile", said)
    assert not list(tmp_path.glob("*.safetensors"))


def test_torch_compile_with_resume_is_refused(capsys, tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors")
    one_line(capsys, ["train", "--backend", "torch", "--torch-compile", "--resume", str(ckpt), "--out",
                      str(tmp_path / "o"), "--iters", "1"], "--torch-compile with --resume")


# The environment the command runs in.

@pytest.mark.parametrize("argv", [["generate", "--backend", "flax", "--tokens", "2"],
                                  ["attention", "--prompt", "ab", "--backends", "torch,nnx"]],
                         ids=["generate", "attention"])
def test_jax_platforms_naming_no_platform_is_one_line(tmp_path, argv):
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors")
    out = ["--out", str(tmp_path / "a.png")] if argv[0] == "attention" else []
    got = subprocess.run([sys.executable, "-m", "learngpt_lab.cli", *argv, "--checkpoint", str(ckpt), *out],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "JAX_PLATFORMS": "bogus"})
    err = got.stderr.strip()
    assert got.returncode == 2 and len(err.splitlines()) == 1, err
    assert err.endswith("error: JAX sees no cpu device: JAX_PLATFORMS is 'bogus' (the platforms JAX may use); unset "
                        "it or name cpu in it"), err


def test_a_file_in_the_current_folder_cannot_replace_an_installed_package(tmp_path):
    """parity's --torch/--flax modules are found in the environment first: a fractions.py (as a torch.py would)
    in the current folder is not what `import fractions` gives the user's module."""
    (tmp_path / "fractions.py").write_text("raise SystemExit('the current folder shadowed a package')\n")
    (tmp_path / "mymod.py").write_text("import fractions\n\n\ndef where():\n    return fractions.__file__\n")
    code = ("import sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "  # as the console script runs
            "from learngpt_lab.commands.parity import load; print(load('mymod:where', '--torch')())")
    got = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    assert str(tmp_path) not in got.stdout and got.stdout.strip().endswith("fractions.py")


# Which errors are one line, and what --help says.

def test_a_bug_is_not_reported_as_a_user_mistake(monkeypatch):
    """Only the project's own error types are one line: a ValueError from inside is the bug it is."""
    from learngpt_lab.commands import parity
    monkeypatch.setattr(parity, "run", lambda args: int("not a number"))
    with pytest.raises(ValueError, match="invalid literal"):
        main(["parity"])


@pytest.mark.parametrize("value, shown", [("0", False), ("", False), ("no", False), ("false", False),
                                          ("1", True), ("true", True), ("yes", True)])
def test_only_a_true_learngpt_debug_shows_tracebacks(capsys, tmp_path, monkeypatch, value, shown):
    monkeypatch.setenv("LEARNGPT_DEBUG", value)
    argv = ["generate", "--checkpoint", str(tmp_path / "absent.safetensors")]
    if shown:
        with pytest.raises(WeightsFileError):
            main(argv)
    else:
        one_line(capsys, argv, "weights file not found")


@pytest.mark.parametrize("command", ["train", "generate"])
def test_help_names_every_backend(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert backends.spelled() in text and "torch or flax" not in text
    assert all(name in backends.spelled() for name in backends.NAMES)

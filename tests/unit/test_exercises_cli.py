"""`learngpt exercise` (list, start, check, hint, solution), the workspace's progress, and `pytest --exercises`."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from learngpt_lab.cli import main
from learngpt_lab.exercises import catalog, generate
from helpers import one_line


def run(capsys, *argv):
    status = main(["exercise", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_start_check_hint_solution_and_the_list(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    status, out, _ = run(capsys, "--workspace", ws, "list")
    assert status == 0 and "0 of 45 passed" in out and "MultiHeadVer1" in out
    status, out, _ = run(capsys, "--workspace", ws, "start", "LayerNorm", "--framework", "torch")
    path = tmp_path / "ws" / "torch" / "layer_norm.py"
    assert status == 0 and path.is_file() and "wrote" in out
    path.write_text(path.read_text() + "# mine\n")
    status, out, _ = run(capsys, "--workspace", ws, "start", "LayerNorm", "--framework", "torch")
    assert status == 0 and "kept as it is" in out and path.read_text().endswith("# mine\n")  # never overwritten
    status, out, _ = run(capsys, "--workspace", ws, "check", "LayerNorm", "--framework", "torch", "--no-question")
    assert status == 1 and out.strip().endswith("write the TODO and check again") and len(out.splitlines()) == 1
    status, out, _ = run(capsys, "--workspace", ws, "hint", "LayerNorm", "--framework", "torch")
    assert status == 0 and "the lesson notes" in out
    status, out, _ = run(capsys, "--workspace", ws, "hint", "LayerNorm", "--framework", "torch")
    assert "std = ..." in out and "unbiased, divides by C - 1" in out  # asked again: the stronger hint
    status, out, _ = run(capsys, "--workspace", ws, "solution", "LayerNorm", "--framework", "torch", "--width", "160")
    assert status == 0 and "correction=1" in out and "raise NotImplementedError" in out
    path.write_text(generate.solution_path(catalog.get("LayerNorm"), "torch").read_text())
    status, out, _ = run(capsys, "--workspace", ws, "check", "LayerNorm", "--framework", "torch")
    assert status == 0 and "LayerNorm [torch]: passed" in out and "7 question  ok" in out
    progress = json.loads((tmp_path / "ws" / "progress.json").read_text())["exercises"]["LayerNorm/torch"]
    assert progress["status"] == "passed" and progress["hints"] == 2
    status, out, _ = run(capsys, "--workspace", ws, "list")
    assert "1 of 45 passed" in out and [line.split()[3] for line in out.splitlines()
                                        if " LayerNorm " in line] == ["passed"]


@pytest.mark.parametrize("argv,words", [
    (["start", "Nope", "--framework", "nnx"], "unknown exercise 'Nope'"),
    (["start", "LayerNorm", "--framework", "jax"], "unknown framework 'jax'"),
    (["check", "LayerNorm", "--framework", "nnx"], "is not started"),
    (["check", "LayerNorm", "--framework", "nnx", "--file", "/nonexistent.py"], "no file /nonexistent.py"),
    (["start", "LayerNorm"], "the following arguments are required: --framework"),
])
def test_a_usage_error_is_one_line_and_exit_2(argv, words, tmp_path, capsys):
    one_line(capsys, ["exercise", "--workspace", str(tmp_path), *argv], words)


def test_nothing_the_learner_writes_runs_at_import_or_list(tmp_path, capsys):
    """The learner's file is imported only when it is graded: not by importing the package, nor by `list`."""
    ws = tmp_path / "ws"
    marker = tmp_path / "ran"
    (ws / "nnx").mkdir(parents=True)
    (ws / "nnx" / "layer_norm.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    code = ("import learngpt_lab.exercises, learngpt_lab.exercises.grade, learngpt_lab.exercises.pytest_plugin, "
            "learngpt_lab.commands.exercise")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    assert run(capsys, "--workspace", str(ws), "list")[0] == 0
    assert not marker.exists()


def test_pytest_grades_a_workspace_one_test_per_exercise(tmp_path):
    ws = tmp_path / "ws"
    for name, body in (("LayerNorm", "solution"), ("HeadVer1", "stub")):
        exercise = catalog.get(name)
        path = ws / "torch" / generate.file_name(exercise)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(generate.solution_path(exercise, "torch").read_text() if body == "solution"
                        else generate.generate(exercise, "torch").text)
    done = subprocess.run([sys.executable, "-m", "pytest", "--exercises", str(ws), "--exercises-question", "none",
                           "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-rs"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    out = done.stdout
    assert done.returncode == 1, out
    assert "1 failed, 1 passed, 43 skipped" in out, out
    assert "HeadVer1 [torch]: not implemented yet" in out and "learngpt exercise start GPTVer1 --framework torch" in out

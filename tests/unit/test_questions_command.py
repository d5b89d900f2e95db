"""`learngpt questions --only A,B --json FILE`: the questions named, in the order given, each result in the file
as soon as its question is answered; a name that matches nothing is one line, before any work."""
import json

import pytest

from learngpt.errors import UserError
from learngpt_lab import questions
from learngpt_lab.cli import main
from learngpt_lab.commands.questions import select

FIRST, SECOND = "test_scaled_scores_have_unit_variance", "test_head_ver_1_averages_the_past"


def test_only_takes_names_in_the_order_given_and_an_exact_name_alone():
    registry = questions.load()
    assert [q.id for q in select(registry, f"{FIRST},{SECOND}")] == [FIRST, SECOND]
    deep = [q.id for q in select(registry, "test_layer_norm_helps_when_network_is_deep")]
    assert deep == ["test_layer_norm_helps_when_network_is_deep"]  # not also ..._deeper
    assert len(select(registry, "layer_norm_helps_when_network")) == 2  # a part of a name: every test containing it
    assert len(select(registry, None)) == len(registry)
    for bad in ("no_such_question", f"{FIRST},,{SECOND}"):
        with pytest.raises(UserError):
            select(registry, bad)


def test_json_holds_each_question_answered(tmp_path, capsys):
    out = tmp_path / "q.json"
    assert main(["questions", "--backend", "torch", "--only", f"{FIRST},{SECOND}", "--json", str(out)]) == 0
    run = json.loads(out.read_text())
    assert run["complete"] is True and run["questions"] == [FIRST, SECOND]
    assert [(r["question"], r["backend"]) for r in run["results"]] == [(FIRST, "torch"), (SECOND, "torch")]
    assert f"wrote {out}" in capsys.readouterr().out


def test_only_takes_a_test_file_as_the_tables_label_it():
    registry = questions.load()
    assert [q.file for q in select(registry, "test_9")] == ["test_9"] * 4
    assert {q.file for q in select(registry, "test_1")} == {"test_1"}  # not test_10's too
    assert [q.id for q in select(registry, f"test_9,{FIRST}")][-1] == FIRST


def test_list_names_every_question_and_asks_none(capsys):
    assert main(["questions", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    registry = questions.load()
    assert len(lines) == len(registry)
    assert all(line.split()[:2] == [q.file, q.id] for line, q in zip(lines, registry.values()))
    assert main(["questions", "--list", "--only", "test_7"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["test_7"] * 4


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("learngpt ")

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

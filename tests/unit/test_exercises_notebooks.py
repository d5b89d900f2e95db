"""The week notebooks (notebooks/week1.md, week2.md): up to date with the generator, and executed twice each:
with the reference solutions in the stub cells (every check passes) and as they are (every check reports "not
implemented" as one line, no traceback)."""
from __future__ import annotations

import pytest

from learngpt_lab.exercises import notebook
from learngpt_lab.exercises.catalog import EXERCISES


@pytest.mark.parametrize("week", (1, 2))
def test_the_notebook_is_generated_from_the_solutions(week):
    assert notebook.path(week).read_text(encoding="utf-8") == notebook.text(week), \
        "out of date: python -m learngpt_lab.exercises.notebook rewrites notebooks/week*.md"


@pytest.mark.parametrize("mode", ("solved", "stub"))
@pytest.mark.parametrize("week", (1, 2))
def test_the_notebook_runs(week, mode, tmp_path):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    text = notebook.path(week).read_text(encoding="utf-8")
    nb = jupytext.reads(notebook.solved(text) if mode == "solved" else text, fmt="md")
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    names = [e.name for e in EXERCISES if e.week == week]
    checks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("check(")]
    assert [c.source.split('"')[1] for c in checks] == names
    for cell in nb.cells:
        assert all(o.output_type != "error" for o in cell.get("outputs", [])), cell.source[:80]
    for name, cell in zip(names, checks):
        out = "".join(o.get("text", "") for o in cell.outputs).strip()
        if mode == "solved":
            assert out.endswith(f"{name} [Flax NNX]: passed"), out
        else:
            assert len(out.splitlines()) == 1 and "not implemented yet" in out and "Traceback" not in out, out

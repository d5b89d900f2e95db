"""The week notebooks (notebooks/week1.md, week2.md): jupytext markdown, each exercise its explanation (the
TODO and the lesson notes), the stub cell (generate.py's, in Flax NNX), a check cell calling the grader, then
the step's question. Generated here, never edited by hand: `python -m learngpt_lab.exercises.notebook` rewrites
them and a test fails when they are out of date. `solved(text)` puts the reference solutions in the stub cells
(what CI executes beside the stubs)."""
from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

from learngpt_lab import lesson
from learngpt_lab.exercises.catalog import EXERCISES, LABELS
from learngpt_lab.exercises.generate import generate, solution_path

FRAMEWORK = "nnx"  # the notebooks' framework: the Flax API the Flax docs lead with; the CLI gives the others
FOLDER = lesson.ROOT / "notebooks"
STUB = re.compile(r'^```python tags=\["exercise-(\w+)"\]\n.*?^```$', re.S | re.M)
HEADER = """---
jupyter:
  jupytext:
    formats: ipynb,md
    text_representation:
      extension: .md
      format_name: markdown
  kernelspec:
    display_name: Python 3
    language: python
    name: python3
---
"""


def text(week: int) -> str:
    from learngpt_lab.questions import load

    questions = load()
    out = [HEADER, f"# learngpt, week {week}: the curriculum's TODOs in {LABELS[FRAMEWORK]}", "",
           textwrap.fill("Each exercise below is one TODO of the curriculum. Fill in the class in its cell, run it, "
                         "then run the check cell under it: the grader builds your module with the curriculum's "
                         "arguments, puts the torch reference's weights into it and compares outputs, gradients and "
                         "(where there is dropout) train/eval behaviour, stage by stage. It compares numbers, never "
                         "source: write it your own way. The same exercises in torch and Flax linen, as files: "
                         "`learngpt exercise start NAME --framework torch` (or flax).", 110), "",
           "This notebook is generated from the solution files (`python -m learngpt_lab.exercises.notebook`).", "",
           "```python", "from learngpt_lab.exercises import check", "```", ""]
    for e in (x for x in EXERCISES if x.week == week):
        stub = generate(e, FRAMEWORK)
        todo = f"TODO {e.todo}" if week == 2 else e.todo
        out += [f"## {e.name} ({todo})", "", e.text, ""]
        if stub.notes:
            out += ["What changes from torch (the lesson notes, `learngpt lesson " + e.name + " --with nnx`):", ""]
            out += [f"- **{n.key}**: {n.text}" for n in stub.notes] + [""]
        body = stub.text.rstrip("\n")
        out += [f'```python tags=["exercise-{e.name}"]', body, "```", "",
                "```python", f'check("{e.name}", {e.name}, framework="{FRAMEWORK}")', "```", ""]
        q = questions[e.question]
        out += [f"**The question** ({q.file}, `{q.id}`): {q.asks}", "",
                f"`learngpt exercise check {e.name} --framework {FRAMEWORK}` asks it of your module"
                + (" (it trains: a short profile, its time stated)" if q.trains else "") + ".", ""]
    return "\n".join(out)


def path(week: int) -> Path:
    return FOLDER / f"week{week}.md"


def solved(notebook_text: str) -> str:
    """The notebook with each stub cell holding the reference solution instead."""
    from learngpt_lab.exercises.catalog import get

    def reference(match: re.Match) -> str:
        source = solution_path(get(match[1]), FRAMEWORK).read_text(encoding="utf-8").rstrip("\n")
        return f'```python tags=["exercise-{match[1]}"]\n{source}\n```'
    return STUB.sub(reference, notebook_text)


def main() -> int:
    FOLDER.mkdir(exist_ok=True)
    for week in (1, 2):
        path(week).write_text(text(week), encoding="utf-8")
        print(f"wrote {path(week).relative_to(lesson.ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

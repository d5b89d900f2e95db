"""Exercises: each TODO of the curriculum in torch, Flax linen and Flax NNX, generated from the solution files
(generate.py), graded against the torch reference in stages (grade.py), kept in a workspace (workspace.py);
`learngpt exercise`, the notebooks (notebooks/) and `pytest --exercises DIR` use them. Importing this package
imports no framework and runs nothing of a learner's."""
from __future__ import annotations


def check(name: str, cls: type | None = None, framework: str = "nnx", file: str | None = None,
          question: bool | str = False) -> None:
    """Grade a class (a notebook's) or a file and print the report: one line when the TODO is not written yet,
    else one line per stage. Never raises for the learner's mistakes (a notebook's check cell stays quiet)."""
    from learngpt.errors import LearngptError
    from learngpt_lab.exercises.grade import grade
    from parity.errors import ParityUsageError

    try:
        result = grade(name, framework, path=file, cls=cls, question=question)
    except (LearngptError, ParityUsageError) as err:
        print(f"check {name}: {err}")
        return None
    print(result.text())
    return None

"""`pytest --exercises DIR`: grade a workspace MiniTorch-style, one test per exercise x framework (an exercise
not started there is skipped), the grader's report as the failure message. Installed with the package (the
pytest11 entry point); without --exercises it adds nothing to a run. The learner's files are imported only when
their test runs."""
from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("learngpt exercises")
    group.addoption("--exercises", metavar="DIR", default=None,
                    help="grade the learngpt exercise workspace DIR (learngpt exercise start ...): one test per "
                         "exercise and framework, instead of collecting tests")
    group.addoption("--exercises-question", choices=("short", "full", "none"), default="short",
                    help="with --exercises: ask each step's question at the short profile, as the tests do "
                         "(full), or not at all")


class ExerciseFailed(Exception):
    """The grader's report of a failed (or unimplemented) exercise."""


class ExerciseItem(pytest.Item):
    def __init__(self, *, exercise: str, framework: str, file: Path, question: str, **kwargs):
        super().__init__(**kwargs)
        self.exercise, self.framework, self.file, self.question = exercise, framework, file, question

    def runtest(self):
        if not self.file.is_file():
            pytest.skip(f"not started ({self.file} is missing): learngpt exercise start {self.exercise} "
                        f"--framework {self.framework}")
        from learngpt_lab.exercises.grade import grade

        result = grade(self.exercise, self.framework, path=self.file, question=self.question != "none",
                       full=self.question == "full")
        if not result.passed:
            raise ExerciseFailed(result.text())

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ExerciseFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.file, None, f"{self.exercise}[{self.framework}]"


def pytest_collection(session):
    root = session.config.getoption("exercises")
    if not root:
        return None
    from learngpt_lab.exercises.catalog import EXERCISES, FRAMEWORKS
    from learngpt_lab.exercises.workspace import Workspace

    ws = Workspace(root)
    if not ws.root.is_dir():
        raise pytest.UsageError(f"--exercises {root}: no such folder; `learngpt exercise start NAME --framework F` "
                                f"makes it")
    question = session.config.getoption("exercises_question")
    session.items = [ExerciseItem.from_parent(session, name=f"{e.name}[{f}]", exercise=e.name, framework=f,
                                              file=ws.path(e, f), question=question)
                     for e in EXERCISES for f in FRAMEWORKS]
    session.testscollected = len(session.items)
    session.config.hook.pytest_collection_modifyitems(session=session, config=session.config, items=session.items)
    session.config.hook.pytest_collection_finish(session=session)
    return True

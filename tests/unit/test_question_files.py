"""Each curriculum test file shows its questions' experiments where a learner reads them: every test that asks a
question (tests/test_1.py .. test_10.py) has for docstring that question's experiment, `questions.describe(id)`
(what it compares, with what, the claim, the bound), which the question builds from the values its run uses. A
question changed without its test's docstring fails here, with the docstring to paste;
`python tests/unit/test_question_files.py` rewrites every such docstring from the registry."""
import ast
import inspect
import re
import sys
import textwrap
from pathlib import Path

import pytest

from learngpt_lab import questions
from learngpt_lab.questions import PROFILES, Experiment, Result, training

TESTS = Path(__file__).resolve().parents[1]
WIDTH = 110  # the docstring's lines, inside the function's indent and quotes: under 120 columns in all


def docstring(id: str) -> str:
    """The docstring test `id` shows: describe(id), each line wrapped, its continuation indented."""
    return "\n".join(textwrap.fill(line, WIDTH, subsequent_indent="    ", break_on_hyphens=False)
                     for line in questions.describe(id))


def unwrapped(doc: str) -> list[str]:
    """A docstring's lines with each indented continuation joined to the line it continues."""
    lines: list[str] = []
    for line in inspect.cleandoc(doc).splitlines():
        if line[:1].isspace() and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line.strip())
    return lines


def curriculum_tests(path: Path) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


FILES = sorted({q.file for q in questions.load().values()}, key=lambda f: int(f.removeprefix("test_")))


@pytest.mark.parametrize("file", FILES)
def test_each_test_shows_its_questions_experiment(file):
    registry = questions.load()
    tests = curriculum_tests(TESTS / f"{file}.py")
    asked = [q.id for q in registry.values() if q.file == file]
    assert list(tests) == asked, f"tests/{file}.py's tests are not its questions, in the registry's order"
    for id, node in tests.items():
        shown = ast.get_docstring(node, clean=False)
        assert shown is not None and unwrapped(shown) == questions.describe(id), (
            f"tests/{file}.py::{id} does not show its question's experiment; its docstring should be:\n"
            f'    """{textwrap.indent(docstring(id), "    ").lstrip()}"""\n'
            f"(python tests/unit/test_question_files.py rewrites them all)")


def test_every_question_states_each_part_of_its_experiment():
    for q in questions.load().values():
        for prof in PROFILES.values():
            for label, text in q.experiment_in(prof).fields():
                assert text.strip() and "\n" not in text, (q.id, prof.name, label)


class _Corpus:  # what the training questions read of a corpus before they train
    class tokenizer:
        vocab_size = 65


def test_a_training_experiment_states_what_its_run_trains(monkeypatch):
    """Every question that trains through train_arms: under each profile, the arms, steps and seeds its
    experiment states are the ones its run hands train_arms."""
    trained = []

    def record(backend, prof, corpus, arms, max_iters, claim, seeds=None, **kw):
        trained.append((list(arms), max_iters, prof.seeds if seeds is None else seeds))
        return Result({}, True, "")
    monkeypatch.setattr(training, "train_arms", record)
    checked = 0
    for q in questions.load().values():
        for prof in PROFILES.values():
            trained.clear()
            if q.trains and q.id != "test_gpt_ver_1_generates_characters_from_the_vocabulary":  # trains by itself
                q.run(None, prof, _Corpus())
                (labels, max_iters, seeds), = trained
                told = q.experiment_in(prof)
                assert told.compares.split(" vs ")[0].split(" = ")[0] == labels[0], (q.id, prof.name)
                assert all(re.search(rf"(^| vs ){re.escape(label)}( =|$| vs)", told.compares) for label in labels)
                assert told.setup.startswith(f"{max_iters} AdamW steps")
                assert f"; seeds {', '.join(map(str, seeds))};" in told.setup
                checked += 1
    assert checked


def test_a_profile_shows_where_its_experiment_differs(monkeypatch):
    def experiment(prof):
        return Experiment("A vs B", f"{prof.name} steps, seeds 0, 1", "A lower", "none" if prof.name == "seed" else "x")
    monkeypatch.setitem(questions.QUESTIONS, "test_shown", questions.Question(
        "test_shown", "test_0", "asks", "answer", run=None, trains=True, experiment=experiment))
    assert questions.describe("test_shown") == [
        "Compares: A vs B", "With: default steps, seeds 0, 1", "Claim: A lower", "Bound: x",
        "LEARNGPT_PROFILE=full: with full steps", "LEARNGPT_PROFILE=seed: with seed steps; bound none"]
    assert len(questions.describe("test_head_ver_2_equals_head_ver_1")) == 4  # the same under every profile


def write() -> None:
    """Rewrite every curriculum test's docstring from the registry."""
    registry = questions.load()
    for file in FILES:
        path = TESTS / f"{file}.py"
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for id, node in sorted(curriculum_tests(path).items(), key=lambda item: -item[1].lineno):
            if id not in registry:
                continue
            doc = textwrap.indent(f'"""{docstring(id)}"""', "    ") + "\n"
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value,
                                                                                                     str):
                lines[first.lineno - 1:first.end_lineno] = [doc]
            else:
                lines[first.lineno - 1:first.lineno - 1] = [doc]
        path.write_text("".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(write())

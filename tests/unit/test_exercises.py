"""The exercises (learngpt_lab/exercises): generated from the solution files, graded by numbers.

Every exercise x framework: the stub is generated and fails as "not implemented"; the reference handed in
passes; every planted bug (tests/exercises/planted.py) fails at its stage with the hint that names it; the
correct solutions written another way (tests/exercises/alternatives/) pass; a file that is the reference, or
subclasses it, is refused. The question stage runs here only for LayerNorm [torch], HeadVer1 [nnx] and
PositionalEncoding [flax] (questions that train nothing); the others are graded with question=False.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from exercises import planted  # tests/exercises/planted.py (tests/ is on the path: its conftest.py is there)
from learngpt_lab.exercises import catalog, generate
from learngpt_lab.exercises.catalog import EXERCISES, FRAMEWORKS

HERE = Path(__file__).resolve().parent.parent / "exercises"

# one xdist worker grades them all: each JAX operation the graders run eagerly is compiled once, not once a worker
pytestmark = pytest.mark.xdist_group("exercises")

CASES = [(e.name, f) for e in EXERCISES for f in FRAMEWORKS]
ALTERNATIVES = sorted((HERE / "alternatives").glob("*/*.py"))
CLASS_OF = {generate.file_name(e): e.name for e in EXERCISES}


def grade(name, framework, path, **kwargs):
    from learngpt_lab.exercises.grade import grade as run
    kwargs.setdefault("question", False)
    return run(name, framework, path=path, **kwargs)


@pytest.mark.parametrize("name,framework", CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_stub_is_the_solution_without_the_todo(name, framework):
    """The stub keeps the imports, the class, every signature and docstring of the solution, raises in each
    TODO method, carries the curriculum's TODO text, the lesson-note line and the removed lines' shapes."""
    exercise = catalog.get(name)
    stub = generate.generate(exercise, framework)
    solution = stub.path.read_text(encoding="utf-8")
    tree, ref = ast.parse(stub.text), ast.parse(solution)
    imports = [ast.unparse(n) for n in ref.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert ast.get_docstring(tree) == ast.get_docstring(ref)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    ref_cls = next(n for n in ref.body if isinstance(n, ast.ClassDef) and n.name == name)
    assert ast.get_docstring(cls) == ast.get_docstring(ref_cls)
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    assert {n.name: ast.unparse(n.args) for n in ref_cls.body if isinstance(n, ast.FunctionDef)} == \
        {k: ast.unparse(m.args) for k, m in methods.items()}
    for method in exercise.methods_in(framework):
        last = methods[method].body[-1]
        assert isinstance(last, ast.Raise) and "NotImplementedError" in ast.unparse(last)
    flat = " ".join(stub.text.split())
    assert " ".join(exercise.text.split()[:6]) in flat
    assert f"learngpt exercise hint {name} --framework {framework}" in flat
    assert all(shape in stub.text for m in stub.methods for shape in m.shapes)
    assert stub.text != solution


def test_generation_fails_when_a_solution_file_changes(tmp_path, monkeypatch):
    """A solution file that lost the TODO's method (or its class) breaks the generation, with what is missing."""
    exercise = catalog.get("MultiHeadVer1")
    source = generate.solution_path(exercise, "nnx").read_text(encoding="utf-8")
    broken = tmp_path / "multi_head_v1.py"
    monkeypatch.setattr(generate, "solution_path", lambda e, f: broken)
    broken.write_text(source.replace("def __call__(", "def apply("), encoding="utf-8")
    with pytest.raises(generate.GenerationError, match=r"MultiHeadVer1 no longer defines __call__\(\)"):
        generate.locate(exercise, "nnx", broken)
    broken.write_text(source.replace("class MultiHeadVer1(", "class MultiHead("), encoding="utf-8")
    with pytest.raises(generate.GenerationError, match="no longer defines class MultiHeadVer1"):
        generate.locate(exercise, "nnx", broken)


@pytest.mark.parametrize("name,framework", CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_reference_passes_and_stub_is_not_implemented(name, framework, tmp_path):
    exercise = catalog.get(name)
    result = grade(name, framework, generate.solution_path(exercise, framework))
    assert result.passed, result.text()
    assert [s.number for s in result.stages] == [1, 2, 3, 4, 5, 6, 7]
    assert (result.stages[5].ok is True) == exercise.dropout
    stub = tmp_path / generate.file_name(exercise)
    stub.write_text(generate.generate(exercise, framework).text, encoding="utf-8")
    result = grade(name, framework, stub)
    assert result.status == "not implemented", result.text()
    assert len(result.text().splitlines()) == 1 and "not implemented yet" in result.text()


BUG_CASES = [(b, f) for b in planted.BUGS for f in FRAMEWORKS]


@pytest.mark.parametrize("bug,framework", BUG_CASES,
                         ids=[f"{b.exercise}-{b.what.replace(' ', '_')}-{f}" for b, f in BUG_CASES])
def test_planted_bug_fails_at_its_stage_with_its_hint(bug, framework, tmp_path):
    path = tmp_path / generate.file_name(catalog.get(bug.exercise))
    path.write_text(planted.planted(bug, framework), encoding="utf-8")
    result = grade(bug.exercise, framework, path)
    assert result.failed is not None and result.failed.number == bug.stage_in(framework), result.text()
    assert bug.hint in result.text(), result.text()
    assert result.text().splitlines()[bug.stage_in(framework) - 1].startswith(f"{bug.stage_in(framework)} ")


def test_every_exercise_has_a_planted_bug_in_every_framework():
    assert {(b.exercise, f) for b in planted.BUGS for f in b.edits} == set(CASES)


@pytest.mark.parametrize("path", ALTERNATIVES, ids=[f"{p.parent.name}-{p.stem}" for p in ALTERNATIVES])
def test_a_correct_solution_written_another_way_passes(path):
    result = grade(CLASS_OF[path.name], path.parent.name, path)
    assert result.passed, result.text()


def test_at_least_five_alternatives():
    assert len(ALTERNATIVES) >= 5


@pytest.mark.parametrize("body,words", [
    ("from learngpt_nnx.layer_norm import LayerNorm\n", "the reference's own class"),
    ("from learngpt_nnx.layer_norm import LayerNorm as Ref\n\n\nclass LayerNorm(Ref):\n    pass\n",
     "subclasses the reference's"),
    ("import learngpt_torch\n\n\nclass LayerNorm(learngpt_torch.LayerNorm):\n    pass\n", "subclasses the reference's"),
])
def test_the_reference_imported_or_subclassed_is_refused(body, words, tmp_path):
    path = tmp_path / "layer_norm.py"
    path.write_text(body, encoding="utf-8")
    result = grade("LayerNorm", "nnx", path)
    assert result.failed is not None and result.failed.number == 1
    assert "refused" in result.text() and words in result.text()


def test_the_learners_errors_are_theirs_trimmed_to_their_file(tmp_path):
    path = tmp_path / "layer_norm.py"
    source = generate.solution_path(catalog.get("LayerNorm"), "torch").read_text(encoding="utf-8")
    path.write_text(source.replace("mean = x.mean(dim=-1, keepdim=True)", "mean = x.mean(dim=-1, keepdim=True)[0, 9]"),
                    encoding="utf-8")
    text = grade("LayerNorm", "torch", path).text()
    assert "4 forward   FAIL: forward raised IndexError" in text
    assert str(path) in text and "site-packages" not in text and "learngpt_lab" not in text
    path.write_text("class LayerNorm(:\n", encoding="utf-8")
    assert "1 imports   FAIL: your file does not parse: line 1" in grade("LayerNorm", "torch", path).text()


@pytest.mark.parametrize("name,framework", [("LayerNorm", "torch"), ("HeadVer1", "nnx"),
                                            ("PositionalEncoding", "flax")])
def test_the_question_is_asked_of_the_learners_module(name, framework, monkeypatch):
    """Stage 7 swaps the learner's class into the backend package while the question runs (and back after)."""
    from learngpt_lab.exercises import grade as grading

    exercise = catalog.get(name)
    seen = []
    original = grading.swapped_everywhere

    def spy(fw, n, cls):
        seen.append(cls)
        return original(fw, n, cls)
    monkeypatch.setattr(grading, "swapped_everywhere", spy)
    result = grade(name, framework, generate.solution_path(exercise, framework), question=True)
    assert result.passed, result.text()
    assert result.stages[-1].ok is True and exercise.question in result.stages[-1].summary
    assert seen and seen[0].__module__.startswith("learngpt_exercise_")
    assert getattr(importlib.import_module(f"learngpt_{framework}"), name) is grading.reference_class(exercise,
                                                                                                   framework)


import importlib  # noqa: E402

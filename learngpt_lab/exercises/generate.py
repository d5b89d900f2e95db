"""The learner's file of an exercise, generated from the solution file by syntax tree: the TODO's method bodies
replaced by `raise NotImplementedError(...)`, everything else kept (the imports, the signatures, the docstrings,
the input checks at the top of a body), with the curriculum's TODO text, the lesson notes that apply to the
removed lines (learngpt_lab/lesson.py's mirror table) and the shapes the removed lines make (their comments).

Nothing here is copied by hand: a solution file that no longer has the class or the method fails here, with
what is missing (GenerationError), and the tests generate every exercise in every framework.
"""
from __future__ import annotations

import ast
import functools
import io
import textwrap
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from learngpt_lab import lesson
from learngpt.errors import LearngptError
from learngpt_lab.exercises.catalog import EXERCISES, FRAMEWORKS, Exercise

NOT_IMPLEMENTED = "not implemented"


class GenerationError(LearngptError):
    """A solution file no longer fits the exercise (its class or method is gone, or the body is empty)."""


@dataclass
class Method:
    """One method whose body the learner writes: where its removed lines are, what they hold."""
    name: str
    indent: str
    start: int  # first removed line (1-based)
    end: int  # last removed line
    removed: list[str] = field(default_factory=list)  # the reference's removed lines
    shapes: list[str] = field(default_factory=list)  # the removed lines' comments, in order
    skeleton: list[str] = field(default_factory=list)  # each removed statement with its right-hand side elided


@dataclass
class Stub:
    exercise: Exercise
    framework: str
    path: Path  # the solution file
    text: str  # the learner's file
    methods: list[Method]
    notes: list[lesson.Note]


def solution_path(exercise: Exercise, framework: str) -> Path:
    stem = lesson.defined_classes()[exercise.name].name if exercise.name in lesson.defined_classes() else None
    if stem is None:
        raise GenerationError(f"{exercise.name}: no file of learngpt_torch defines the class")
    path = lesson.ROOT / lesson.PACKAGES[framework] / stem
    if not path.is_file():
        raise GenerationError(f"{exercise.name}: {_rel(path)} is missing")
    return path


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(lesson.ROOT))
    except ValueError:
        return str(path)


def _class(tree: ast.Module, name: str, path: Path) -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise GenerationError(f"{_rel(path)} no longer defines class {name}")


def _kept(stmt: ast.stmt) -> bool:
    """An input check or the parent's constructor: kept at the top of a body (not the lesson)."""
    call = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    if not isinstance(call, ast.Call):
        return False
    text = ast.unparse(call.func)
    return text.startswith("checks.") or text in ("super().__init__", "super().__post_init__", "self.check_tokens")


def _comments(source: str) -> dict[int, str]:
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _elided(stmt: ast.stmt, lines: list[str]) -> str:
    """The statement's first line with what it computes elided: `out = ...`, `return ...`, `self.x = ...`."""
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        op = " = " if not isinstance(stmt, ast.AugAssign) else f" {_OPS.get(type(stmt.op), '?')}= "
        names = [ast.unparse(t) for t in targets]
        names = [n[1:-1] if isinstance(t, ast.Tuple) and n.startswith("(") else n for n, t in zip(names, targets)]
        return " = ".join(names) + op + "..."
    if isinstance(stmt, ast.Return):
        return "return ..."
    if isinstance(stmt, (ast.For, ast.If, ast.While, ast.With)):
        return lines[stmt.lineno - 1].strip().split("#")[0].rstrip() + "  ..."
    return "..."


_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _method(cls: ast.ClassDef, name: str, path: Path, lines: list[str], comments: dict[int, str]) -> Method:
    fn = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if fn is None:
        raise GenerationError(f"{_rel(path)}: class {cls.name} no longer defines {name}()")
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the docstring stays
    while body and _kept(body[0]):
        body = body[1:]
    if not body:
        raise GenerationError(f"{_rel(path)}: {cls.name}.{name}() has nothing to write")
    start, end = body[0].lineno, fn.end_lineno
    indent = lines[start - 1][:len(lines[start - 1]) - len(lines[start - 1].lstrip())]
    m = Method(name, indent, start, end, lines[start - 1:end])
    m.shapes = [comments[n] for n in range(start, end + 1) if n in comments]
    for stmt in body:
        line = _elided(stmt, lines)
        if stmt.lineno in comments or stmt.end_lineno in comments:
            line += f"  # {comments.get(stmt.end_lineno, comments.get(stmt.lineno))}"
        m.skeleton.append(line)
    return m


@functools.lru_cache(maxsize=None)
def _notes(exercise: Exercise, framework: str) -> list[lesson.Note]:
    """The mirror table's notes for the lines the learner writes: torch -> linen for torch and linen (what the
    lines are in the other framework), and linen -> NNX as well for NNX."""
    found: list[lesson.Note] = []

    def collect(a: str, b: str, side: int):
        pa, pb = solution_path(exercise, a), solution_path(exercise, b)
        la, lb = pa.read_text(encoding="utf-8").splitlines(), pb.read_text(encoding="utf-8").splitlines()
        path = (pa, pb)[side]
        ranges = [(m.start, m.end) for m in locate(exercise, (a, b)[side], path)]
        rows = lesson.align(la, lb, f"{a}-{b}")
        used = lesson.annotate(rows, f"{a}-{b}")
        for row in rows:
            no = (row.a_no, row.b_no)[side]
            if no is not None and any(s <= no <= e for s, e in ranges):
                found.extend(used[i] for i in row.notes if used[i] not in found)

    if framework == "torch":
        collect("torch", "flax", 0)
    else:
        collect("torch", "flax", 1 if framework == "flax" else 0)
        if framework == "nnx":
            collect("flax", "nnx", 1)
    return found


def locate(exercise: Exercise, framework: str, path: Path | None = None) -> list[Method]:
    path = path or solution_path(exercise, framework)
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    cls = _class(ast.parse(source), exercise.name, path)
    comments = _comments(source)
    return [_method(cls, name, path, lines, comments) for name in exercise.methods_in(framework)]


def _wrapped(indent: str, text: str, first: str = "", more: str = "  ") -> list[str]:
    return textwrap.wrap(text, 110 - len(indent), initial_indent=f"{indent}# {first}",
                         subsequent_indent=f"{indent}# {more}", break_on_hyphens=False)


def generate(exercise: Exercise, framework: str) -> Stub:
    """The learner's file for `exercise` in `framework` (a Stub: its text and what was removed)."""
    path = solution_path(exercise, framework)
    lines = path.read_text(encoding="utf-8").splitlines()
    methods = locate(exercise, framework, path)
    notes = list(_notes(exercise, framework))
    week = f"week {exercise.week}, " + (f"TODO {exercise.todo}" if exercise.week == 2 else exercise.todo)
    keys = ", ".join(f"[{n.key}]" for n in notes) or "none"
    for m in sorted(methods, key=lambda m: -m.start):
        block = _wrapped(m.indent, exercise.text, f"TODO ({week}): ")
        block += _wrapped(m.indent, f"Lesson notes that apply (learngpt_lab/lesson.py): {keys}")
        block.append(f"{m.indent}#   `learngpt exercise hint {exercise.name} --framework {framework}` prints them")
        if m.shapes:
            block.append(f"{m.indent}# The reference's lines make these shapes, in order:")
            block += [f"{m.indent}#   {s}" for s in m.shapes]
        block.append(f'{m.indent}raise NotImplementedError("{exercise.name}.{m.name}: {NOT_IMPLEMENTED} yet '
                     f'({week})")')
        lines[m.start - 1:m.end] = block
    text = "\n".join(lines) + "\n"
    try:
        tree = ast.parse(text)
    except SyntaxError as err:  # a defect of this generator, not of the learner
        raise GenerationError(f"{exercise.name} [{framework}]: the generated file does not parse ({err})") from None
    _class(tree, exercise.name, path)
    return Stub(exercise, framework, path, text, methods, notes)


def all_stubs() -> list[Stub]:
    return [generate(e, f) for e in EXERCISES for f in FRAMEWORKS]


def file_name(exercise: Exercise) -> str:
    return solution_path(exercise, "torch").name


"""`learngpt exercise`: every TODO of the curriculum as an exercise in torch, Flax linen and Flax NNX, graded
against the torch reference (learngpt_lab/exercises): list, start, check, hint, solution."""
from __future__ import annotations

import argparse
import shutil
import sys
import textwrap

from learngpt.errors import UserError

FRAMEWORK_HELP = "torch, flax (Flax linen) or nnx (Flax NNX)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", default="learngpt-exercises",
                        help="the folder holding your files and progress.json (default learngpt-exercises)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="every exercise in every framework, with its status")
    p = sub.add_parser("start", help="write the exercise's file into the workspace (never over your work)")
    p.add_argument("name", metavar="NAME", help="the component: MultiHeadVer1, LayerNorm, BlockVer4, ...")
    p.add_argument("--framework", required=True, help=FRAMEWORK_HELP)
    p = sub.add_parser("check", help="grade your file in stages against the torch reference (exit 0 pass, 1 fail)")
    p.add_argument("name", metavar="NAME", nargs="?", default=None,
                   help="the exercise (default: every exercise started in the workspace)")
    p.add_argument("--framework", default=None, help=FRAMEWORK_HELP + " (default: each one started)")
    p.add_argument("--file", default=None, help="grade this file instead of the workspace's (default: none)")
    p.add_argument("--full", action="store_true", help="ask the step's question as the tests do (minutes)")
    p.add_argument("--no-question", action="store_true", help="skip the question (stage 7)")
    p = sub.add_parser("hint", help="the lesson notes for the exercise; asked again, a stronger hint")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--framework", required=True, help=FRAMEWORK_HELP)
    p = sub.add_parser("solution", help="the reference beside your file, aligned line for line")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--framework", required=True, help=FRAMEWORK_HELP)
    p.add_argument("--width", type=int, default=None, help="columns (default: the terminal's, at least 100)")


def run(args: argparse.Namespace) -> int:
    from learngpt_lab.exercises.workspace import Workspace

    ws = Workspace(args.workspace)
    return {"list": do_list, "start": do_start, "check": do_check, "hint": do_hint,
            "solution": do_solution}[args.action](args, ws)


def do_list(args, ws) -> int:
    from learngpt_lab.exercises.catalog import EXERCISES, FRAMEWORKS

    cells = {(e.name, f): ws.status(e, f) for e in EXERCISES for f in FRAMEWORKS}
    w = max([len(v) for v in cells.values()] + [6]) + 2
    print(f"exercises in {ws.root}/ (- not started):")
    print(f"{'week':<5} {'TODO':<7} {'exercise':<19}" + "".join(f"{f:<{w}}" for f in FRAMEWORKS))
    for e in EXERCISES:
        print(f"{e.week:<5} {e.todo:<7} {e.name:<19}" + "".join(f"{cells[e.name, f]:<{w}}" for f in FRAMEWORKS))
    done = sum(v == "passed" for v in cells.values())
    print(f"{done} of {len(cells)} passed; start one: learngpt exercise start NAME --framework nnx")
    return 0


def _exercise(name, framework):
    from learngpt_lab.exercises.catalog import check_framework, get
    return get(name), check_framework(framework) if framework is not None else None


def do_start(args, ws) -> int:
    from learngpt_lab.exercises.generate import generate

    exercise, framework = _exercise(args.name, args.framework)
    path, written = ws.start(exercise, framework, generate(exercise, framework).text)
    if written:
        print(f"wrote {path}: fill in the TODO, then `learngpt exercise check {exercise.name} --framework "
              f"{framework}` (`hint` for help)")
    else:
        print(f"{path} is already there: kept as it is (your work); `learngpt exercise check {exercise.name} "
              f"--framework {framework}` grades it")
    return 0


def do_check(args, ws) -> int:
    from learngpt_lab.exercises.catalog import EXERCISES, FRAMEWORKS, get
    from learngpt_lab.exercises.grade import grade

    if args.file is not None:
        if args.name is None or args.framework is None:
            raise UserError("--file needs NAME and --framework: the exercise and framework the file is for")
        exercise, framework = _exercise(args.name, args.framework)
        from pathlib import Path
        if not Path(args.file).is_file():
            raise UserError(f"no file {args.file}")
        todo = [(exercise, framework, Path(args.file))]
    else:
        names = [get(args.name)] if args.name else list(EXERCISES)
        frameworks = [_exercise(names[0].name, args.framework)[1]] if args.framework else list(FRAMEWORKS)
        todo = [(e, f, ws.path(e, f)) for e in names for f in frameworks if ws.path(e, f).is_file()]
        if not todo:
            what = f"{args.name} ({args.framework or 'any framework'})" if args.name else "no exercise"
            raise UserError(f"{what} is not started in {ws.root}/; `learngpt exercise start NAME --framework F` "
                            f"writes its file")
    status = 0
    for exercise, framework, path in todo:
        if len(todo) > 1:
            print(f"== {exercise.name} [{framework}]: {path}")
        question = False if args.no_question else True
        result = grade(exercise.name, framework, path=path, question=question, full=args.full)
        print(result.text())
        if args.file is None:
            failed = result.failed
            ws.record(exercise, framework, status=result.status,
                      stage=failed.number if failed else (None if result.not_implemented else 7))
        if not result.passed:
            status = 1
            if not result.not_implemented:
                print(f"next: fix stage {result.failed.number}, or `learngpt exercise hint {exercise.name} "
                      f"--framework {framework}`", file=sys.stderr)
    return status


def do_hint(args, ws) -> int:
    from learngpt_lab.exercises.generate import generate

    exercise, framework = _exercise(args.name, args.framework)
    stub = generate(exercise, framework)
    asked = int(ws.entry(exercise, framework).get("hints", 0)) + 1
    width = min(110, max(70, shutil.get_terminal_size((110, 40)).columns))
    out = [f"{exercise.name} [{framework}] (week {exercise.week}, TODO {exercise.todo}): {exercise.text}"]
    if asked == 1:
        out.append("the lesson notes for the lines you write (learngpt_lab/lesson.py's mirror table):")
        out += [textwrap.fill(f"[{n.key}] {n.text}", width, initial_indent="  ", subsequent_indent="    ")
                for n in stub.notes] or ["  (none: these lines are the same in every framework)"]
        out.append(f"the reference writes {sum(len(m.skeleton) for m in stub.methods)} statements; asked again, "
                   f"`hint` shows them with what they compute left out")
    else:
        for m in stub.methods:
            out.append(f"in {m.name}(), the reference's statements, what each computes left out:")
            out += [f"  {line}" for line in m.skeleton]
        out.append(f"`learngpt exercise solution {exercise.name} --framework {framework}` shows the reference")
    print("\n".join(out))
    ws.record(exercise, framework, hints=asked, **({} if ws.entry(exercise, framework) else {"status": "-"}))
    return 0


def do_solution(args, ws) -> int:
    from learngpt_lab import lesson
    from learngpt_lab.exercises.generate import generate, solution_path

    exercise, framework = _exercise(args.name, args.framework)
    ref = solution_path(exercise, framework)
    mine = ws.path(exercise, framework)
    mine_text = mine.read_text(encoding="utf-8") if mine.is_file() else generate(exercise, framework).text
    mine_lines = mine_text.splitlines()
    rows = lesson.align(mine_lines, ref.read_text(encoding="utf-8").splitlines(), f"{framework}-{framework}")
    width = args.width or max(100, shutil.get_terminal_size((200, 40)).columns)
    col = max(30, (width - 14) // 2)
    left = str(mine) if mine.is_file() else "(the exercise's file: not started)"
    print(f"{left}  |  {ref.relative_to(lesson.ROOT)}   (yours | the reference; ~ differs, < > one side only)")
    for row in rows:
        a, b = lesson._cells(row.a, col), lesson._cells(row.b, col)
        for k in range(max(len(a), len(b))):
            an = f"{row.a_no:>4}" if row.a_no and k == 0 else "    "
            bn = f"{row.b_no:>4}" if row.b_no and k == 0 else "    "
            tag = row.tag if k == 0 else " "
            x, y = a[k] if k < len(a) else "", b[k] if k < len(b) else ""
            print(f"{an} {x:<{col}} {tag} {bn} {y}".rstrip())
    return 0

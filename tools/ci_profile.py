"""Where the test suite's time goes: a pytest plugin that writes one line per test, and the recorder that sums
those lines per test file into docs/results/ci-profile.json (docs/reference.md's table, tools/docs.py).

    python -m pytest -p tools.ci_profile --profile-to /tmp/profile tests -v -n 2 --dist loadgroup \\
        -m "(slow or not slow) and not timing"
    python tools/ci_profile.py /tmp/profile --commit $(git rev-parse HEAD) --note "clean clone, idle 2-core machine" \\
        --out docs/results/ci-profile.json

A test's line: the CPU seconds of its process (setup, call and teardown), those of the child processes it waited
for (a process started and waited for in it: a command, a data-parallel rank), its wall seconds, and the seconds
JAX's backend compiled for in its process (a child's compiling is in the child's CPU seconds, not here).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

import pytest

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
SECONDS = ("cpu", "children", "wall", "compile")  # a line's measured fields, beside its "id"
_compiled = {"seconds": 0.0, "listening": False}  # JAX's backend compile seconds in this process, once listening


def pytest_addoption(parser):
    parser.addoption("--profile-to", default=None, metavar="DIR",
                     help="append one JSON line per test (CPU, children's CPU, wall and compile seconds) to "
                          "DIR/<xdist worker>.jsonl")


def _count_compile(event: str, seconds: float, **_) -> None:
    if event == COMPILE_EVENT:
        _compiled["seconds"] += seconds


def pytest_configure(config):
    folder = config.getoption("--profile-to")
    if folder and not hasattr(config, "workerinput") and any(Path(folder).glob("*.jsonl")):  # not an xdist worker
        raise pytest.UsageError(f"--profile-to {folder}: holds an earlier run's lines; give an empty folder")
    if folder and not _compiled["listening"]:  # once a process
        import jax.monitoring
        jax.monitoring.register_event_duration_secs_listener(_count_compile)
        _compiled["listening"] = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    folder = item.config.getoption("--profile-to")
    if not folder:
        yield
        return
    t0, w0, c0 = os.times(), time.perf_counter(), _compiled["seconds"]
    yield
    t1, w1 = os.times(), time.perf_counter()
    row = {"id": item.nodeid, "cpu": (t1.user - t0.user) + (t1.system - t0.system),
           "children": (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system),
           "wall": w1 - w0, "compile": _compiled["seconds"] - c0}
    Path(folder).mkdir(parents=True, exist_ok=True)
    with open(Path(folder) / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def summarise(rows: list[dict], top: int = 10) -> dict:
    """The lines summed per test file (largest CPU first), the totals, and the `top` tests by CPU."""
    files: dict[str, dict] = collections.defaultdict(lambda: dict.fromkeys(("tests",) + SECONDS, 0))
    for r in rows:
        f = files[r["id"].split("::")[0]]
        f["tests"] += 1
        for key in SECONDS:
            f[key] += r[key]
    total = {key: sum(f[key] for f in files.values()) for key in ("tests",) + SECONDS}
    by_cpu = sorted(files.items(), key=lambda kv: -(kv[1]["cpu"] + kv[1]["children"]))
    tests = sorted(rows, key=lambda r: -(r["cpu"] + r["children"]))[:top]
    return {"total": total, "files": [{"file": name, **f} for name, f in by_cpu], "top_tests": tests}


def read(folder: Path) -> list[dict]:
    """Every line of folder/*.jsonl; a line that is not the plugin's raises ValueError naming it."""
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or {"id", *SECONDS} - set(row):
                    raise ValueError
            except ValueError:
                raise ValueError(f"{path}:{n} is not a line of tools/ci_profile.py's plugin: {line[:80]!r}") from None
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Sum a profiled pytest run's lines (pytest -p tools.ci_profile "
                                            "--profile-to DIR) per test file into a results file.")
    p.add_argument("folder", help="the --profile-to folder")
    p.add_argument("--commit", required=True)
    p.add_argument("--note", default="", help="where and how it ran")
    p.add_argument("--out", default="docs/results/ci-profile.json")
    args = p.parse_args(argv)
    folder = Path(args.folder)
    try:
        rows = read(folder) if folder.is_dir() else []
    except ValueError as err:
        print(f"ci_profile: {err}", file=sys.stderr)
        return 2
    if not rows:
        print(f"ci_profile: no profile lines in {folder}/*.jsonl (run pytest -p tools.ci_profile --profile-to "
              f"{folder} first)", file=sys.stderr)
        return 2
    record = {"commit": args.commit, "note": args.note, "workers": len(list(folder.glob("*.jsonl"))),
              "cpu_count": os.cpu_count(), "created": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
              **summarise(rows)}
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    t = record["total"]
    print(f"wrote {args.out}: {t['tests']} tests, {t['cpu'] + t['children']:.0f} CPU-seconds")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What tests/parallel measured, as docs/parallel.md's tables: runs every test of tests/parallel (slow ones
included, one process, nothing else beside it) with $LEARNGPT_PARALLEL_RECORD set, so that each test appends
what it measured (max |diff| of losses and parameters against one device and between torch and JAX, what a
device held, how long a killed rank took to stop the run), and writes those figures with the run's conditions.

    python tools/parallel_roundoff.py --out docs/results/parallel.json

docs/parallel.md's blocks parallel:table, parallel:held and parallel:killed are generated from that file
(tools/docs.py). The run fails, and writes nothing, if a test fails.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "results" / "parallel.json"),
                        help="the results file (default docs/results/parallel.json)")
    parser.add_argument("--label", default=None, help="a note on the conditions, kept in the file")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from learngpt_lab import files
    from learngpt_lab import stats

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "figures.jsonl"
        env = dict(os.environ, LEARNGPT_PARALLEL_RECORD=str(log))
        command = [sys.executable, "-m", "pytest", "tests/parallel", "-q", "-p", "no:xdist", "-m", "slow or not slow"]
        t0 = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env)
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            print(f"tests/parallel failed (exit {done.returncode}): nothing written", file=sys.stderr)
            return done.returncode
        rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    if not rows:
        print("tests/parallel recorded nothing: nothing written", file=sys.stderr)
        return 1
    result = {"schema": "learngpt-parallel/1", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "label": args.label, "command": shlex.join(["python", "tools/parallel_roundoff.py", *(sys.argv[1:] if argv is None else argv)]),
              "tests": shlex.join(["python", *command[1:]]), "seconds": seconds, "machine": stats.machine(), "rows": rows}
    files.write_text(Path(args.out), json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}: {len(rows)} figures from {seconds:.0f} s of tests/parallel")
    return 0


if __name__ == "__main__":
    sys.exit(main())

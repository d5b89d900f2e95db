"""Record a GPU run: copy its result files from the run's folder into docs/results/ and regenerate the docs.

    python tools/gpu_record.py gpu-out        # the folder tools/gpu.sh (tools/gpu_run.py) wrote

FILES are copied as they are (gpu-run.json, what ran and how long, is required; a part that wrote nothing is
left out and the docs say so); each is checked to be the JSON its writer makes before anything is copied. Then
`python tools/docs.py` rewrites docs/bench.md's GPU blocks and the README's GPU line.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
FILES = {"gpu-run.json": "learngpt-gpu-run/1", "gpu-bench.json": "learngpt-gpu-bench/1",
         "gpu-parity.json": "learngpt-gpu-parity/1", "gpu-trajectory.json": "learngpt-gpu-trajectory/1"}


def record(folder: Path, results: Path = RESULTS) -> list[str]:
    """The files copied (names); ValueError, in one line, when the folder holds no run or a file is not its
    writer's JSON."""
    if not (folder / "gpu-run.json").is_file():
        raise ValueError(f"{folder} holds no gpu-run.json; expected the folder tools/gpu.sh wrote")
    found = {}
    for name, schema in FILES.items():
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not JSON ({err})") from None
        if data.get("schema") != schema:
            raise ValueError(f"{path} has schema {data.get('schema')!r}; expected {schema!r}")
        found[name] = path
    results.mkdir(parents=True, exist_ok=True)
    for name in FILES:  # a part that wrote nothing this time: its old file would mix two runs
        if name not in found and (results / name).exists():
            (results / name).unlink()
    for name, path in found.items():
        shutil.copyfile(path, results / name)
    return sorted(found)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python tools/gpu_record.py", description=__doc__.splitlines()[0])
    p.add_argument("folder", help="the run's folder (tools/gpu.sh's OUT)")
    p.add_argument("--no-docs", action="store_true", help="copy only; do not run tools/docs.py")
    args = p.parse_args(argv)
    try:
        copied = record(Path(args.folder))
    except ValueError as err:
        print(f"gpu_record: error: {err}", file=sys.stderr)
        return 2
    print(f"gpu_record: copied {', '.join(copied)} into {RESULTS}")
    if args.no_docs:
        return 0
    sys.path += [] if str(ROOT) in sys.path else [str(ROOT)]  # the checkout, when run as a script
    from tools import docs
    return docs.main([])


if __name__ == "__main__":
    sys.exit(main())

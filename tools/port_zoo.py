"""Records docs/results/port-zoo.json: tests/parity/test_port_zoo.py's cases (each appends its row while
$LEARNGPT_PORT_ZOO_RECORD names a file) and a porter's first hour on the Flax guide's CNN, the `learngpt parity`
commands docs/port.md shows with what they printed. tools/docs.py renders both into docs/port.md.

    python tools/port_zoo.py          # about two minutes on one core
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "port-zoo.json"
HOUR = ("first", "declared", "same_padding", "train_copied_momentum", "train")  # docs/examples/cnn_port.py


def versions() -> dict:
    import flax
    import jax
    import torch
    import transformers

    return {"torch": torch.__version__.split("+")[0], "jax": jax.__version__, "flax": flax.__version__,
            "transformers": transformers.__version__}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rows_file = Path(tmp) / "rows.jsonl"
        env = dict(os.environ, LEARNGPT_PORT_ZOO_RECORD=str(rows_file))
        test = subprocess.run([sys.executable, "-m", "pytest", "tests/parity/test_port_zoo.py", "-q", "-p",
                               "no:xdist", "-m", "slow or not slow"], cwd=ROOT, env=env)
        if test.returncode != 0:
            print("tools/port_zoo.py: tests/parity/test_port_zoo.py failed; nothing recorded", file=sys.stderr)
            return 1
        rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    hour = []
    for factory in HOUR:
        command = ["learngpt", "parity", "--pair", f"docs/examples/cnn_port.py:{factory}"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        hour.append({"factory": factory, "command": " ".join(command), "exit": done.returncode,
                     "output": (done.stdout + done.stderr).rstrip("\n")})
    OUT.write_text(json.dumps({"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                               "versions": versions(), "cases": rows, "first_hour": hour}, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(rows)} cases, {len(hour)} commands")
    return 0


if __name__ == "__main__":
    sys.exit(main())

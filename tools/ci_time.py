"""Record a run of .ci/run: its wall time and each pytest pass's counts and time, from the run's output.

    start=$(date +%s); bash .ci/run > ci.log 2>&1; echo $? > ci.rc; end=$(date +%s)
    python tools/ci_time.py ci.log --start $start --end $end --rc $(cat ci.rc) --commit $(git rev-parse HEAD) \\
        --note "clean clone, shared/ beside it, idle 2-core machine" --out docs/results/ci-run.json

The README's CI block is generated from that file (tools/docs.py, block `ci-run`).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import time

# pytest's closing line: "==== 480 passed, 3 xfailed in 335.26s (0:05:35) ===="
CLOSING = re.compile(r"^=+ (?P<counts>.*?) in (?P<seconds>[\d.]+)s(?: \([\d:]+\))? =+$")
COUNT = re.compile(r"(?P<n>\d+) (?P<what>passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)")


def passes(log: str) -> list[dict]:
    """Each pytest run's closing line in the log, in order: its counts and seconds."""
    out = []
    for line in log.splitlines():
        m = CLOSING.match(line.strip())
        if m:
            counts = {c["what"]: int(c["n"]) for c in COUNT.finditer(m["counts"])}
            out.append({"counts": counts, "seconds": float(m["seconds"])})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log")
    p.add_argument("--start", type=int, required=True, help="epoch seconds when .ci/run started")
    p.add_argument("--end", type=int, required=True, help="epoch seconds when it ended")
    p.add_argument("--rc", type=int, required=True, help="its exit status")
    p.add_argument("--commit", required=True)
    p.add_argument("--note", default="")
    p.add_argument("--out", default="docs/results/ci-run.json")
    args = p.parse_args()
    with open(args.log, encoding="utf-8", errors="replace") as f:
        found = passes(f.read())
    if len(found) != 2:
        raise SystemExit(f"expected the two pytest passes of .ci/run in {args.log}, found {len(found)}")
    total = args.end - args.start
    record = {"commit": args.commit, "rc": args.rc, "seconds": total,
              "install_seconds": total - sum(p["seconds"] for p in found),
              "parallel_pass": found[0], "timing_pass": found[1], "note": args.note,
              "created": time.strftime("%Y-%m-%d %H:%M", time.gmtime(args.end)),
              "load_average_at_record": os.getloadavg()}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {total} s, rc {args.rc}")


if __name__ == "__main__":
    main()

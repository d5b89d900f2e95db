"""`learngpt bench --quick`, reduced to fit a test, run while another process keeps a core busy (a CPU hog this
test starts and stops): whatever the machine does, no figure is printed as fact with a spread above the
threshold, and the table says what it ran with. Nothing here asserts a time."""
import json
import re
import subprocess
import sys

import pytest

from learngpt import stats

ARGS = ["bench", "--quick", "--components", "MultiHeadVer2", "--impls", "torch,jax.jit", "--no-sweep",
        "--loop-steps", "60", "--no-progress", "--label", "test: under a CPU hog"]
CELL = re.compile(r"(?P<value>\d[\d.]*(?:e[+-]?\d+)?)(?P<mark>\??) (?:steps/s )?±(?P<half>\d+)%")


@pytest.mark.training
@pytest.mark.timing  # a bench run beside its own hog, nothing else
@pytest.mark.slow  # a whole bench --quick: about a minute
def test_quick_bench_under_a_cpu_hog_flags_every_unsteady_figure(tmp_path):
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        got = subprocess.run([sys.executable, "-m", "learngpt_lab.cli"] + ARGS + ["--out", str(tmp_path)],
                             capture_output=True, text=True, timeout=600)
    finally:
        hog.kill()
        hog.wait()
    print(got.stdout)
    assert got.returncode == 0, got.stderr[-3000:]
    data = json.loads((tmp_path / "bench-cpu.json").read_text())
    limit = data["settings"]["spread_limit"]
    assert limit == stats.SPREAD_LIMIT
    lines = got.stdout.splitlines()
    assert lines[0].startswith("learngpt bench on cpu: threads torch 1, XLA Eigen 1; load average ")

    # the JSON: a figure whose times or paired ratios spread over the limit is flagged, with a reason
    figures = data["measurements"] + data["loops"]
    assert figures and all(f["error"] is None for f in figures)
    for f in figures:
        is_reference = f.get("impl") == "torch" or f.get("loop") == "torch loop"
        too_wide = f["spread"] > limit or (not is_reference and f["ratio_spread"] > limit)
        if too_wide:
            assert f["unstable"] and f["reasons"], f
        assert f["unstable"] == bool(f["flags"]) and len(f["reasons"]) >= len(f["flags"])

    # the table: no cell shows a spread above the limit (± is half the interquartile range) without its ?
    cells = [m for line in lines[2:] for m in CELL.finditer(line)]
    assert len(cells) >= len(figures)
    for m in cells:
        if int(m["half"]) * 2 / 100 > limit + 0.01:  # the printed ± is rounded to a whole percent
            assert m["mark"] == "?", m.group(0)
    unstable = sum(f["unstable"] for f in figures)
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == (1 if unstable else 0)
    if unstable:
        assert f"{unstable} of {len(figures)} figures are unstable" in warnings[0]

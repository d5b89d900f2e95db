"""`learngpt compare`'s success path, end to end on a few steps: the table, step 0 in agreement, every file,
and each backend's checkpoint generating in the other backend."""
import json
import re

import numpy as np
import pytest

from learngpt_lab import files
from learngpt_lab.cli import main

# one xdist worker for the module: its module-scoped fixture (the compare run) is then made once, not once per worker
pytestmark = [pytest.mark.training, pytest.mark.xdist_group("compare")]

STEPS, EVERY = 20, 10


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpus):
    out = tmp_path_factory.mktemp("compare")
    import io
    from contextlib import redirect_stdout
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        status = main(["compare", "--iters", str(STEPS), "--eval-interval", str(EVERY), "--eval-iters", "2",
                       "--sample-tokens", "12", "--no-progress", "--n-layers", "2", "--out", str(out)])
    return status, buffer.getvalue(), out


def test_compare_succeeds_and_prints_the_table(run):
    status, text, _ = run
    assert status == 0, text
    rows = {int(m[1]): [float(v) for v in m[2].split("|")]
            for m in re.finditer(r"^\s+(\d+) \|(.*)$", text, re.M)}
    assert sorted(rows) == [0, EVERY, STEPS], text
    torch_train, flax_train, torch_val, flax_val, diff = rows[0]
    assert abs(torch_train - flax_train) <= 1e-5 and abs(torch_val - flax_val) <= 1e-5, rows[0]  # same start
    assert diff <= 1e-5
    for label in ("steps/s (training only)", "compile / warm-up (s)", "peak RSS of its process (MiB)"):
        assert label in text


def test_compare_writes_every_file(run):
    _, _, out = run
    for name in ("init.safetensors", "torch.safetensors", "flax.safetensors", "loss_curves.png",
                 "sample_torch.txt", "sample_flax.txt", "history_torch.json", "history_flax.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("torch", "flax"):  # the default --backends
        history = json.loads((out / f"history_{name}.json").read_text())["history"]
        assert history["steps"] == STEPS and len(history["step_losses"]) == STEPS
        assert all(np.isfinite(history["step_losses"]))
    assert not list(out.glob(files.TEMP_PREFIX + "*")), "a temporary file was left behind"


@pytest.mark.parametrize("trained_in,loaded_in", [("torch", "flax"), ("flax", "torch")])
def test_each_checkpoint_generates_in_the_other_backend(run, capsys, trained_in, loaded_in):
    _, _, out = run
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(out / f"{trained_in}.safetensors"), "--backend", loaded_in,
                 "--prompt", "ROMEO:", "--tokens", "20", "--greedy"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 20


def test_the_backends_train_together_when_cores_are_free(monkeypatch):
    """--concurrent auto: one core each when --threads is 1 and the load average leaves them free, else one
    after the other; yes insists (refused in one line without the cores), no never; a data-parallel run never."""
    import argparse
    import os

    from learngpt_lab import stats
    from learngpt.errors import UserError
    from learngpt_lab.commands import compare

    def args(concurrent="auto", threads=1):
        return argparse.Namespace(concurrent=concurrent, threads=threads)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(stats, "load_average", lambda: 0.2)
    assert compare.together(("torch", "flax"), None, args()) == [0, 1]
    assert compare.together(("torch", "flax"), None, args(threads=2)) == []
    assert compare.together(("torch", "flax"), None, args("no")) == []
    assert compare.together(("torch",), None, args()) == []
    assert compare.together(("torch", "flax"), {"torch": object()}, args()) == []
    monkeypatch.setattr(stats, "load_average", lambda: 3.0)  # one core left free: not one for each
    assert compare.together(("torch", "flax"), None, args()) == []
    assert compare.together(("torch", "flax"), None, args("yes")) == [0, 1]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5})
    with pytest.raises(UserError, match="2 backends need 2 cores"):
        compare.together(("torch", "flax"), None, args("yes"))


def test_a_concurrent_compare_trains_both_at_once_and_lists_every_file(tmp_path):
    import io
    import os
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("two cores needed")
    from contextlib import redirect_stdout
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        status = main(["compare", "--iters", "4", "--eval-interval", "2", "--eval-iters", "1", "--sample-tokens",
                       "4", "--no-progress", "--n-layers", "1", "--concurrent", "yes", "--out", str(tmp_path)])
    text = buffer.getvalue()
    assert status == 0, text
    assert "the backends train at the same time, one core each" in text
    listed = text.rsplit("wrote in ", 1)[1]
    for name in ("init.safetensors", "loss_curves.png", "torch.safetensors", "flax.safetensors", "sample_torch.txt",
                 "sample_flax.txt", "history_torch.json", "history_flax.json", "manifest.json"):
        assert name in listed and (tmp_path / name).is_file(), name

"""`learngpt compare`'s success path, end to end on a few steps: the table, step 0 in agreement, every file,
and each backend's checkpoint generating in the other backend."""
import json
import re

import numpy as np
import pytest

from learngpt import files
from learngpt_lab import backends
from learngpt_lab.cli import main

pytestmark = pytest.mark.training

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
    for name in backends.NAMES:
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

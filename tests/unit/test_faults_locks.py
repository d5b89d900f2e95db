"""One run per output folder: a run holds the folder's lock file while it works, and a second run on it is refused
in one line naming the first one's pid, before any work; two runs started together into one --out never use each
other's weights. A lock path that is not a plain file (a symlink, a fifo, a folder) is refused untouched: what a
symlink points to is never written."""
import json
import os
import time

import pytest

from learngpt_lab import files
from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.errors import UserError
from learngpt_lab import backends
from helpers import QUICK, launch, one_line


def step0_loss(corpus, seed: int, embed_size: int) -> float:
    """The step-0 train loss `compare --seed S --embed-size E --eval-iters 2` reports: its own init, its batches."""
    from learngpt.data import BatchSampler
    from learngpt.training import eval_data
    from learngpt_torch.trainer import evaluate
    cfg = Config(seed=seed, embed_size=embed_size, eval_iters=2)
    b = backends.get("torch")
    model = b.create(NANOGPT.recipe(cfg), seed=seed)
    return evaluate(model.module, *eval_data(BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed), cfg)["train"])


def test_two_compare_runs_into_one_out(tmp_path, corpus):
    """Started 0.3 s apart into one --out: one is refused in one line (the folder is locked), or, had the first
    finished already, each would have trained from its own weights; either way no run used the other's."""
    out = tmp_path / "shared"
    common = ["compare", "--backends", "torch", "--iters", "60", "--eval-interval", "60", "--eval-iters", "2",
              "--no-progress", "--sample-tokens", "5", "--out", str(out)]
    runs = {"first": (1, 16), "second": (2, 32)}
    procs = {}
    for name, (seed, width) in runs.items():
        procs[name] = launch(common + ["--seed", str(seed), "--embed-size", str(width)])
        time.sleep(0.3)
    done = {name: (p.wait(timeout=600),) + p.communicate() for name, p in procs.items()}
    assert sorted(r[0] for r in done.values()) in ([0, 0], [0, 2]), done
    for name, (code, _, err) in done.items():
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and "is in use by another learngpt run (pid" in err, err
    last = [name for name, r in done.items() if r[0] == 0][-1]  # the folder holds the last successful run
    history = json.loads((out / "history_torch.json").read_text())["history"]
    seed, width = runs[last]
    assert history["evals"][0]["train_loss"] == pytest.approx(step0_loss(corpus, seed, width), abs=1e-6)


def test_a_second_run_on_a_locked_folder_is_refused(capsys, tmp_path):
    with files.RunLock(tmp_path):
        one_line(capsys, ["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK,
                 f"--out {tmp_path} is in use by another learngpt run (pid {os.getpid()})")
        one_line(capsys, ["bench", "--quick", "--loop-steps", "0", "--components", "HeadVer4", "--impls", "torch",
                          "--no-sweep", "--no-progress", "--out", str(tmp_path)],
                 f"--out {tmp_path} is in use by another learngpt run (pid {os.getpid()})")
    assert not list(tmp_path.glob("bench-*")), "the refused bench wrote its results"


@pytest.mark.parametrize("kind", ["symlink", "dangling symlink", "fifo", "directory"])
def test_a_lock_file_that_is_not_a_plain_file_is_refused_untouched(tmp_path, kind):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    lock = out / files.RunLock.NAME
    if kind == "symlink":
        lock.symlink_to(victim)
    elif kind == "dangling symlink":
        lock.symlink_to(tmp_path / "nowhere")
    elif kind == "fifo":
        os.mkfifo(lock)
    else:
        lock.mkdir()
    with pytest.raises(UserError, match=r"the lock file \.learngpt\.lock is .*not a plain file"):
        with files.RunLock(out):
            pass
    assert victim.read_text() == "precious\n" and not (tmp_path / "nowhere").exists()


def test_the_lock_file_refusal_reaches_the_command_line_as_one_line(capsys, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "d"
    out.mkdir()
    (out / files.RunLock.NAME).symlink_to(victim)
    one_line(capsys, ["train", "--backend", "torch", "--out", str(out)] + QUICK, "is a symlink, not a plain file")
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_lock_path_that_is_a_fifo_or_a_folder_is_one_line(capsys, tmp_path, kind):
    lock = tmp_path / files.RunLock.NAME
    os.mkfifo(lock) if kind == "fifo" else lock.mkdir()
    err = one_line(capsys, ["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK, "not a plain file")
    assert " is is " not in err, err

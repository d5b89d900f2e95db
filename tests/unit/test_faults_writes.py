"""Every file is written whole or not at all: one atomic writer (a temporary beside it, synced, renamed, the folder
synced; a plain file's mode), so a failed or killed write leaves the old file as it was. A dead writer's temporary
is swept by the next write, a live writer's and the user's own files never. Every output path is checked before
the work: an --out that cannot be written or is empty, a folder where a file goes, is one line before anything
is trained."""
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from learngpt_lab import checkpoints, files
from learngpt.errors import WriteError
from learngpt_lab.cli import main
from parity.weights import read_weights, write_weights
from helpers import QUICK, a_file, one_line, tiny_checkpoint


# Output paths, checked before the work.

@pytest.mark.parametrize("command", [["train", "--backend", "torch"] + QUICK, ["compare"] + QUICK, ["bench", "--quick"]])
def test_an_unwritable_out_is_refused_before_any_work(capsys, tmp_path, command):
    out = a_file(tmp_path) / "sub"
    t0 = time.perf_counter()
    one_line(capsys, command + ["--out", str(out), "--data", str(tmp_path / "no-corpus-here.txt")],
             f"--out {out}: cannot write there")  # the corpus is not even looked for: --out comes first
    assert time.perf_counter() - t0 < 5


def test_an_empty_out_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line(capsys, ["train", "--backend", "torch", "--out", ""] + QUICK, "--out is empty")
    assert not list(tmp_path.iterdir()), "something was written into the current folder"


def test_a_folder_where_the_checkpoint_goes_is_refused_before_training(capsys, tmp_path):
    (tmp_path / "torch.safetensors").mkdir()
    one_line(capsys, ["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK, "is a folder")
    with pytest.raises(WriteError, match="a folder is in its place"):
        files.write_text(tmp_path / "torch.safetensors", "x")


def test_questions_refuse_a_folder_as_the_json_file_before_any_question(capsys, tmp_path, monkeypatch):
    from learngpt_lab import questions
    monkeypatch.setattr(questions, "ask", lambda *a, **k: pytest.fail("a question was asked"))
    one_line(capsys, ["questions", "--only", "test_head_ver_1_averages_the_past", "--json", str(tmp_path)],
             f"--json {tmp_path}: a folder is in its place")
    one_line(capsys, ["questions", "--json", ""], "--json is empty")


# The one writer.

def test_a_full_disk_during_the_save_is_one_line_and_keeps_the_old_checkpoint(capsys, tmp_path, monkeypatch):
    import errno
    main(["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK)
    capsys.readouterr()
    old = (tmp_path / "torch.safetensors").read_bytes()

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_bytes", full)
    assert main(["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK) == 2
    err = capsys.readouterr().err.strip().splitlines()  # the notice that the file exists, then the error
    assert len(err) == 2 and "exists; the new checkpoint will replace it" in err[0], err
    assert "No space left on device" in err[1] and "the old file is unchanged" in err[1], err
    assert (tmp_path / "torch.safetensors").read_bytes() == old
    assert not list(tmp_path.glob(files.TEMP_PREFIX + "*"))


def test_a_failed_text_write_leaves_the_old_file(tmp_path):
    path = files.write_text(tmp_path / "sample.txt", "old")

    def fail(tmp):
        Path(tmp).write_text("half")
        raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(path, fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["sample.txt"]


def test_writes_are_synced_and_get_a_plain_files_mode(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    old = os.umask(0o022)
    try:
        path = write_weights(tmp_path / "w.safetensors", {"a": np.zeros(3, np.float32)})
        text = files.write_text(tmp_path / "s.txt", "hello")
    finally:
        os.umask(old)
    assert len(synced) >= 4  # each file, then its folder
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(text.stat().st_mode) == 0o644


def test_a_weights_file_is_written_by_one_writer_leaving_no_temporary_of_its_own(tmp_path, monkeypatch):
    """safetensors' file writer keeps temporaries of its own (.tmpXXXXXX) that a SIGKILL leaves behind: the
    bytes are made in memory and written through the one atomic writer instead."""
    import safetensors.numpy
    monkeypatch.setattr(safetensors.numpy, "save_file", lambda *a, **k: pytest.fail("safetensors wrote a file"))
    path = write_weights(tmp_path / "w.safetensors", {"a": np.arange(3, dtype=np.float32)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]
    assert read_weights(path)[0]["a"].tolist() == [0.0, 1.0, 2.0]


# Temporaries.

def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    killed = ("import os, sys; from learngpt_lab import files; "  # a writer killed mid-write (issue 41: a real one's
              "files.atomic_write(sys.argv[1], lambda tmp: os._exit(0))")  # temporary, not a hand-made name)
    subprocess.run([sys.executable, "-c", killed, str(tmp_path / "w.safetensors")], check=True, timeout=60)
    (stale,) = tmp_path.iterdir()
    mine = tmp_path / files.temp_name("other")  # a live writer's (this process): left alone
    mine.write_bytes(b"in progress")
    users = [tmp_path / f".draft.{dead}.v2.tmp", tmp_path / ".draft.999999.v2.tmp"]  # the user's own files
    for f in users:
        f.write_bytes(b"mine")
    write_weights(tmp_path / "w.safetensors", {"a": np.zeros(3, np.float32)}, atomic_write=files.atomic_write)
    assert not stale.exists() and mine.exists()
    assert all(f.read_bytes() == b"mine" for f in users), "the sweep removed a user's file"


def test_a_checkpoint_is_written_by_the_labs_writer(tmp_path):
    """checkpoints.save goes through learngpt_lab.files, not parity's own writer: a killed writer's temporary
    beside it is swept, and a write that cannot happen is the lab's WriteError (one line, exit 2)."""
    ckpt = checkpoints.load(tiny_checkpoint(tmp_path / "src.safetensors"))
    out = tmp_path / "out"
    code = ("import os, sys; from learngpt_lab import files; "
            "files.atomic_write(sys.argv[1], lambda tmp: os._exit(0))")
    subprocess.run([sys.executable, "-c", code, str(out / "m.safetensors")], check=True, timeout=60)
    checkpoints.save(out / "m.safetensors", ckpt)
    assert [p.name for p in out.iterdir()] == ["m.safetensors"]
    (out / "dir.safetensors").mkdir()
    with pytest.raises(WriteError, match="a folder is in its place"):
        checkpoints.save(out / "dir.safetensors", ckpt)

def test_a_killed_writers_own_temporary_is_still_removed(tmp_path):
    code = ("import os, sys; from learngpt_lab import files; "
            "files.atomic_write(sys.argv[1], lambda tmp: os._exit(0))")  # dies mid-write: its temporary stays
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "w.txt")], check=True, timeout=60)
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and files.temp_owner(left[0]) is not None, left
    files.write_text(tmp_path / "x.txt", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_a_users_file_named_like_a_temporary_is_never_deleted(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    users = [tmp_path / f"{files.TEMP_PREFIX}999999.notes.txt", tmp_path / f"{files.TEMP_PREFIX}{dead}.w.abc123",
             tmp_path / f"{files.TEMP_PREFIX}{dead}.0123456789ab.0123456789abcdef.w"]  # a tag the key did not make
    for f in users:
        f.write_bytes(b"mine")
    files.write_text(tmp_path / "x.txt", "x")
    with files.OutputSet(tmp_path, ("y.txt",), {"command": "t"}) as outputs:
        outputs.stage("y.txt").write_text("y")
    assert all(f.read_bytes() == b"mine" for f in users), "a user's file was removed"

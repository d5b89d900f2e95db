"""A run's output folder: compare and bench write their files as one set (a manifest lists them with their sha256)
and replace only their own earlier set, whole, when they finish; no command replaces a file another command
wrote or the user edited (refused before any work, nothing changed). An interrupted run (Ctrl-C in compare's
Flax half, in train) or a full disk leaves the earlier files byte for byte; a crafted manifest is no manifest."""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from learngpt_lab import files
from learngpt.errors import UserError
from learngpt_lab.cli import main
from helpers import QUICK, TINY, launch, nested, one_line, tiny_checkpoint


# compare's set.

def compare_proc(out, *flags, **kw):
    return subprocess.Popen([sys.executable, "-m", "learngpt_lab.cli", "compare", "--eval-iters", "1",
                             "--eval-interval", "1", "--n-layers", "1", "--sample-tokens", "5", "--out", str(out),
                             *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def earlier_set(out: Path) -> dict[str, bytes]:
    """An earlier compare run's files in out, with the manifest that makes them compare's (issue 41: a compare
    replaces only its own earlier set)."""
    from learngpt_lab.commands.compare import outputs_of
    names = outputs_of(("torch", "flax"))  # those of the default --backends
    out.mkdir()
    for name in names:
        (out / name).write_bytes(f"the earlier run's {name}".encode())
    (out / files.OutputSet.MANIFEST).write_text(json.dumps({"command": "compare", "files": {
        name: files.sha256(out / name) for name in names}}))
    return {name: (out / name).read_bytes() for name in names + (files.OutputSet.MANIFEST,)}


def test_a_compare_interrupted_in_its_flax_half_leaves_the_earlier_set_whole(tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while the Flax worker trains, its progress
    bar showing: exit 130, the one line, every earlier file unchanged, none of this run's files and no staging
    folder left; no 'leaked semaphore' warning (the worker holds tqdm's lock when it is stopped)."""
    out = tmp_path / "out"
    before = earlier_set(out)
    proc = compare_proc(out, "--iters", "300", "--eval-interval", "100", start_new_session=True)
    said, deadline = "", time.time() + 180
    while time.time() < deadline and "flax:" not in said and proc.poll() is None:
        said += proc.stderr.read(1)  # the torch half's bar, then the Flax worker's
    assert "flax:" in said, said + proc.communicate()[1]
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = said + err
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("learngpt: interrupted") and "Traceback" not in err, err  # (a bar may precede)
    assert "leaked" not in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != files.RunLock.NAME} == before


def test_a_compare_replaces_the_earlier_set_whole_and_says_what_it_holds(tmp_path):
    """A finished compare: its files only (the earlier run's flax files, not of this --backends torch run,
    are gone), manifest.json last with each file's sha256; stderr only the notice; no leaked semaphore."""
    out = tmp_path / "out"
    earlier_set(out)
    proc = compare_proc(out, "--iters", "2", "--backends", "torch")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    said = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and "it/s" not in line]
    assert len(said) == 1 and "earlier run's files" in said[0], err  # and the progress bars
    assert "leaked" not in err, err
    manifest = json.loads((out / files.OutputSet.MANIFEST).read_text())
    assert sorted(manifest["files"]) == ["history_torch.json", "init.safetensors", "loss_curves.png",
                                         "sample_torch.txt", "torch.safetensors"]
    assert {n: files.sha256(out / n) for n in manifest["files"]} == manifest["files"]
    assert sorted(p.name for p in out.iterdir()) == sorted([files.RunLock.NAME, files.OutputSet.MANIFEST,
                                                           *manifest["files"]])


def fake_compare(names, spread, cfg, corpus, corpus_path, outputs, args) -> dict:
    """compare's comparison without the training: each of the run's files staged (what run() does around it is
    the code under test)."""
    for name in outputs.names:
        outputs.stage(name).write_bytes(f"this run's {name}".encode())
    return {}


def test_compare_keeps_another_commands_checkpoint_in_its_out(capsys, tmp_path, monkeypatch):
    """train --backend nnx wrote nnx.safetensors, then compare ran in the same folder: nnx.safetensors is kept byte
    for byte (it was deleted), and no line claims the run replaces a file it does not write; a second compare
    replaces its own earlier set and names only those files."""
    from learngpt_lab.commands import compare
    monkeypatch.setattr(compare, "compare", fake_compare)
    (tmp_path / "nnx.safetensors").write_bytes(b"train's nnx checkpoint")
    (tmp_path / "flax.safetensors").write_bytes(b"train's flax checkpoint")
    assert main(["compare", "--backends", "torch", "--out", str(tmp_path)] + TINY) == 0
    err = capsys.readouterr().err
    assert "nnx.safetensors" not in err and "flax.safetensors" not in err and "earlier run" not in err, err
    assert (tmp_path / "nnx.safetensors").read_bytes() == b"train's nnx checkpoint"
    assert (tmp_path / "flax.safetensors").read_bytes() == b"train's flax checkpoint"
    manifest = json.loads((tmp_path / files.OutputSet.MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(compare.outputs_of(("torch",)))
    (tmp_path / "flax.safetensors").unlink()
    assert main(["compare", "--backends", "flax", "--out", str(tmp_path)] + TINY) == 0
    err = capsys.readouterr().err.strip()
    assert err == (f"learngpt compare: {tmp_path} holds an earlier run's files; this run replaces "
                   f"init.safetensors, loss_curves.png and removes torch.safetensors, sample_torch.txt, "
                   f"history_torch.json (of the earlier compare set) together when it finishes, and an "
                   f"interrupted run leaves them as they are"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [files.RunLock.NAME, files.OutputSet.MANIFEST, "nnx.safetensors", *compare.outputs_of(("flax",))])


def test_compare_refuses_to_replace_trains_checkpoint_before_any_work(capsys, tmp_path, monkeypatch):
    from learngpt_lab.commands import compare
    (tmp_path / "torch.safetensors").write_bytes(b"train's checkpoint, an hour of work")
    monkeypatch.setattr(compare, "compare", lambda *a, **k: pytest.fail("the comparison ran"))
    one_line(capsys, ["compare", "--backends", "torch", "--out", str(tmp_path)] + TINY,
             "torch.safetensors was not written by an earlier compare", "nothing was changed")
    assert (tmp_path / "torch.safetensors").read_bytes() == b"train's checkpoint, an hour of work"


# Sets of several commands in one folder.

def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != files.RunLock.NAME}


def a_set(folder: Path, command: str, names: dict[str, bytes], **kw) -> files.OutputSet:
    with files.OutputSet(folder, tuple(names), {"command": command}, **kw) as outputs:
        for name, data in names.items():
            outputs.stage(name).write_bytes(data)
    return outputs


def test_a_set_replaces_and_removes_only_its_own_earlier_files(tmp_path):
    a_set(tmp_path, "compare", {"a.txt": b"1", "b.txt": b"1"})
    (tmp_path / "user.txt").write_bytes(b"mine")
    outputs = files.OutputSet(tmp_path, ("a.txt",), {"command": "compare"})
    assert outputs.check() == (["a.txt"], ["b.txt"])  # what the notice names: only what the run changes
    a_set(tmp_path, "compare", {"a.txt": b"2"})
    assert listing(tmp_path) == {"a.txt": b"2", "user.txt": b"mine",
                                 "manifest.json": (tmp_path / "manifest.json").read_bytes()}
    (tmp_path / "a.txt").write_bytes(b"edited by hand")  # no longer what the set wrote: the user's now
    with pytest.raises(UserError, match="a.txt was not written by an earlier compare"):
        a_set(tmp_path, "compare", {"a.txt": b"3"})
    assert (tmp_path / "a.txt").read_bytes() == b"edited by hand"


def test_sets_of_two_commands_share_a_folder(tmp_path):
    a_set(tmp_path, "compare", {"torch.safetensors": b"c"})
    a_set(tmp_path, "bench", {"bench-cpu.json": b"b"}, manifest="bench-cpu.manifest.json")
    a_set(tmp_path, "bench", {"bench-cpu.json": b"b2"}, manifest="bench-cpu.manifest.json")
    assert (tmp_path / "torch.safetensors").read_bytes() == b"c"
    with pytest.raises(UserError, match="is a file of the compare run there"):
        a_set(tmp_path, "bench", {"torch.safetensors": b"b"}, manifest="bench-cpu.manifest.json")


def test_train_and_attention_refuse_to_replace_a_file_of_compares_set(capsys, tmp_path):
    a_set(tmp_path, "compare", {"torch.safetensors": b"compare's", "loss_curves.png": b"png"})
    one_line(capsys, ["train", "--backend", "torch", "--out", str(tmp_path)] + TINY,
             "torch.safetensors is a file of the compare run", "manifest.json lists it")
    ckpt = tiny_checkpoint(tmp_path.parent / f"{tmp_path.name}-c.safetensors")
    one_line(capsys, ["attention", "--checkpoint", str(ckpt), "--prompt", "ab", "--out",
                      str(tmp_path / "loss_curves.png")], "loss_curves.png is a file of the compare run")
    assert (tmp_path / "torch.safetensors").read_bytes() == b"compare's"


def test_a_manifest_bomb_is_no_manifest(tmp_path):
    (tmp_path / files.OutputSet.MANIFEST).write_text('{"command": "compare", "files": {}, "x": ' + nested(10**5) + "}")
    assert files.read_manifest(tmp_path / files.OutputSet.MANIFEST) is None
    with pytest.raises(UserError, match="manifest.json was not written by an earlier compare"):
        a_set(tmp_path, "compare", {"a.txt": b"1"})


# train's checkpoint, attention's picture and bench's results.

def test_replacing_an_earlier_run_says_so(capsys, tmp_path):
    assert main(["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK) == 0
    capsys.readouterr()
    assert main(["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK) == 0
    assert "exists; the new checkpoint will replace it" in capsys.readouterr().err


def test_an_interrupted_train_leaves_the_earlier_checkpoint(tmp_path):
    """train's one output, the checkpoint, is replaced in one rename once training finished: Ctrl-C before
    that leaves the earlier file byte for byte."""
    (tmp_path / "torch.safetensors").write_bytes(b"the earlier checkpoint")
    proc = launch(["train", "--backend", "torch", "--iters", "1000000", "--eval-interval", "1000000",
                   "--eval-iters", "1", "--n-layers", "1", "--no-progress", "--out", str(tmp_path)],
                  start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and "exists" not in (proc.stderr.readline() or "exists"):
        pass  # the notice that the checkpoint exists: the run holds the lock and trains next
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "learngpt: interrupted", err
    assert sorted(p.name for p in tmp_path.iterdir()) == [files.RunLock.NAME, "torch.safetensors"]
    assert (tmp_path / "torch.safetensors").read_bytes() == b"the earlier checkpoint"


def test_attention_out_naming_its_own_checkpoint_is_refused(capsys, tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors")
    before = ckpt.read_bytes()
    one_line(capsys, ["attention", "--checkpoint", str(ckpt), "--prompt", "ab", "--out",
                      str(tmp_path / "." / "c.safetensors")], "is the --checkpoint the run reads")
    assert ckpt.read_bytes() == before


def test_bench_refuses_a_folder_where_the_png_goes_before_it_runs(capsys, tmp_path, monkeypatch):
    import learngpt_lab.bench.run as bench_run
    monkeypatch.setattr(bench_run, "run_bench", lambda *a, **k: pytest.fail("the bench ran"))
    (tmp_path / "bench-cpu.png").mkdir()
    one_line(capsys, ["bench", "--components", "HeadVer4", "--impls", "torch", "--no-sweep", "--loop-steps", "0",
                      "--no-progress", "--out", str(tmp_path)], "bench-cpu.png is a folder", "nothing was changed")
    assert sorted(p.name for p in tmp_path.iterdir()) == [files.RunLock.NAME, "bench-cpu.png"]


def test_a_full_disk_leaves_the_earlier_bench_set_whole_and_says_so(capsys, tmp_path, monkeypatch):
    import learngpt_lab.bench.report as report
    import learngpt_lab.bench.run as bench_run
    (tmp_path / "bench-cpu.json").write_text("the earlier JSON")  # a bench from before sets: taken as bench's
    (tmp_path / "bench-cpu.png").write_bytes(b"the earlier PNG")
    monkeypatch.setattr(bench_run, "run_bench", lambda *a, **k: {"settings": {}, "measurements": []})

    def full(result, path):
        files.atomic_write(path, lambda tmp: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    monkeypatch.setattr(report, "plot", full)
    assert main(["bench", "--components", "HeadVer4", "--impls", "torch", "--no-sweep", "--loop-steps", "0",
                 "--no-progress", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # the bench's opening line, then the one error
    assert len(err) == 2 and err[1] == (f"learngpt bench: error: cannot write {tmp_path}/bench-cpu.png: No space "
                                        f"left on device; nothing in {tmp_path} was changed"), err
    assert listing(tmp_path) == {"bench-cpu.json": b"the earlier JSON", "bench-cpu.png": b"the earlier PNG"}
    assert not list(tmp_path.glob(files.TEMP_PREFIX + "*"))

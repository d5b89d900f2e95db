"""Nothing lost, nothing silent: every failure of a run is one clear line, and no run ends in a broken file.

One test per fault found by trying about 150 bad inputs as a new user would (issue "Nothing lost, nothing
silent"); each failed on the code before the fix. The command runs in-process where it can, and as a real
process where the fault is about processes (a killed parent, two runs sharing one --out).
"""
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from learngpt import data, files
from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.errors import DivergedError, InputError, UserError, WriteError
from learngpt_lab import backends
from learngpt_lab.cli import main
from learngpt_lab.checkpoints import digest
from parity.weights import WeightsFileError, read_weights, write_weights
from helpers import one_line

QUICK = ["--iters", "1", "--eval-iters", "1", "--eval-interval", "1", "--no-progress"]
VOCAB = "\n !,.:;?abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"




def a_file(tmp_path):
    f = tmp_path / "plain"
    f.write_text("not a folder")
    return f


# 1. An unwritable --out is found before the work.

@pytest.mark.parametrize("command", [["train", "--backend", "torch"] + QUICK, ["compare"] + QUICK, ["bench", "--quick"]])
def test_an_unwritable_out_is_refused_before_any_work(capsys, tmp_path, command):
    out = a_file(tmp_path) / "sub"
    t0 = time.perf_counter()
    one_line(capsys, command + ["--out", str(out), "--data", str(tmp_path / "no-corpus-here.txt")],
             f"--out {out}: cannot write there")  # the corpus is not even looked for: --out comes first
    assert time.perf_counter() - t0 < 5


# 2. Two runs sharing --out: one is refused, naming the other; the one that runs uses its own weights.

def launch(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "learngpt_lab.cli"] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


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


# 3. Killing compare kills its worker.

def descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.add(c)
            todo.append(c)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_killing_compare_leaves_no_worker(tmp_path):
    proc = launch(["compare", "--backends", "torch", "--iters", "20000", "--no-progress", "--out", str(tmp_path)])
    deadline = time.time() + 120
    while time.time() < deadline and not descendants(proc.pid):
        time.sleep(0.5)
    time.sleep(5)  # the worker is training now
    workers = descendants(proc.pid)
    assert workers, "compare started no worker"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in workers):
        time.sleep(0.2)
    survivors = [p for p in workers if alive(p)]
    for p in survivors:
        os.kill(p, signal.SIGKILL)
    assert not survivors, f"processes outlived their killed parent: {survivors}"
    assert not (tmp_path / "torch.safetensors").exists(), "an orphan went on to write the checkpoint"


# 4. Diverged training is not saved as success; generate refuses non-finite weights.

@pytest.mark.slow  # trains until it diverges (flax about 20 s)
def test_a_diverged_run_stops_naming_the_step_and_saves_nothing(capsys, tmp_path, backend):
    one_line(capsys, ["train", "--backend", backend.name, "--iters", "3", "--eval-iters", "1", "--eval-interval", "3",
                      "--no-progress", "--learning-rate", "1e30", "--out", str(tmp_path)],
             "training diverged", "at step")
    assert not list(tmp_path.glob("*.safetensors"))


@pytest.mark.parametrize("rate", ["nan", "inf", "-1"])
def test_a_learning_rate_that_is_not_a_positive_number_is_refused(capsys, tmp_path, rate):
    one_line(capsys, ["train", "--backend", "flax", "--learning-rate", rate, "--out", str(tmp_path)] + QUICK,
             "learning_rate must be a positive finite number")


def nan_checkpoint(tmp_path) -> Path:
    cfg = Config(vocab_size=len(VOCAB), n_layers=1)
    b = backends.get("torch")
    weights = b.get_weights(b.create(NANOGPT.recipe(cfg), seed=0))
    weights["lm_head.weight"][0, 0] = np.nan
    meta = {"format": "learngpt-checkpoint", "version": "2", "config": json.dumps(cfg.to_dict()),
            "architecture": json.dumps(NANOGPT.to_dict()), "vocab": VOCAB, "backend": "torch", "step": "3"}
    return write_weights(tmp_path / "nan.safetensors", weights, {**meta, "sha256": digest(weights, meta)})


def test_generate_refuses_non_finite_weights(capsys, tmp_path, backend):
    path = nan_checkpoint(tmp_path)
    one_line(capsys, ["generate", "--checkpoint", str(path), "--backend", backend.name, "--tokens", "3"],
             "non-finite weights", "lm_head.weight")


def test_a_checkpoint_of_non_finite_weights_is_never_written(tmp_path, backend):
    cfg = Config(vocab_size=len(VOCAB), n_layers=1)
    model = backend.create(NANOGPT.recipe(cfg), example=np.zeros((1, 8), np.int64))
    weights = {k: v.copy() for k, v in backend.get_weights(model).items()}
    weights["ln_f.bias"][:] = np.inf
    backend.set_weights(model, weights)
    with pytest.raises(DivergedError, match="non-finite weights"):
        backend.save_checkpoint(tmp_path / "x.safetensors", model, cfg, VOCAB)
    assert not list(tmp_path.iterdir())


# 5. Under jit a bad token id: the places that jit for the user check on the host; `checked` for the rest.

def test_flax_trainer_and_fast_decoding_check_ids_on_the_host(corpus):
    from learngpt.data import BatchSampler
    from learngpt.training import eval_data
    b = backends.get("flax")
    cfg = Config(n_layers=1, eval_iters=1)
    model = b.create(NANOGPT.recipe(cfg), example=np.zeros((1, 8), np.int64))
    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
    evals = eval_data(sampler, cfg)
    evals["val"][0][0, 0, 3] = 65
    with pytest.raises(InputError, match=r"token id 65 is outside the vocabulary; expected ids in \[0, 65\)"):
        b.train(model, cfg, sampler, evals, max_iters=2, eval_interval=2)
    with pytest.raises(InputError, match=r"token id -1 is outside the vocabulary"):
        b.complete(model, np.array([[3, -1, 4]]), 2)


def test_checked_mode_raises_where_plain_jit_returns_nan():
    import jax
    from learngpt_flax.checked import checked
    b = backends.get("flax")
    cfg = Config(n_layers=1)
    model = b.create(NANOGPT.recipe(cfg), example=np.zeros((1, 8), np.int64))
    idx = np.zeros((2, 8), np.int32)
    bad = idx.copy()
    bad[0, 3] = 65
    loss = lambda p, x, y: model.module.apply({"params": p}, x, y)[1]  # noqa: E731
    assert np.isnan(jax.jit(loss)(model.params, bad, idx))  # what plain jit does (documented in the README)
    safe = checked(loss)
    assert np.isfinite(safe(model.params, idx, idx))
    with pytest.raises(InputError, match=r"^token id 65 is outside the vocabulary; expected ids in \[0, 65\)"):
        safe(model.params, bad, idx)


def test_torch_checked_raises_where_the_compiled_lookup_fails():
    import torch

    from learngpt_torch.checked import checked
    b = backends.get("torch")
    cfg = Config(n_layers=1)
    model = b.create(NANOGPT.recipe(cfg), example=np.zeros((1, 8), np.int64)).module.eval()
    idx = torch.zeros((2, 8), dtype=torch.int64)
    bad = idx.clone()
    bad[0, 3] = 65
    safe = checked(lambda x, y: model(x, y)[1], model.vocab_size)
    assert torch.isfinite(safe(idx, idx))
    with pytest.raises(InputError, match=r"^token id 65 is outside the vocabulary; expected ids in \[0, 65\)"):
        safe(bad, idx)


# 6. Inputs the shared checks used to miss: the same error type and message on both backends.

def gpt(backend):
    return backend.create(NANOGPT.recipe(Config(n_layers=1)), example=np.zeros((1, 8), np.int64))


@pytest.mark.parametrize("dtype", ["float32", "uint8", "bool", "int16"])
def test_token_ids_of_the_wrong_dtype(backend, dtype):
    with pytest.raises(InputError, match=rf"^token ids must be integers of dtype int32 or int64, got {dtype}"):
        backend.forward(gpt(backend), np.zeros((1, 8), dtype))


def test_integer_activations(backend):
    model = backend.create(lambda lib: lib.MultiHeadVer2(8, 16, 4), example=np.zeros((1, 8, 16), np.float32))
    with pytest.raises(InputError, match="^MultiHeadVer2 expects floating-point input, got int64"):
        backend.forward(model, np.zeros((1, 8, 16), np.int64))


@pytest.mark.parametrize("name", ["FeedForward", "LayerNorm"])
def test_a_width_mismatch(backend, name):
    model = backend.create(lambda lib: getattr(lib, name)(16), example=np.zeros((1, 8, 16), np.float32))
    with pytest.raises(InputError, match=rf"^{name} expects 16 features, got 12 \(shape \(1, 8, 12\)\)"):
        backend.forward(model, np.zeros((1, 8, 12), np.float32))


@pytest.mark.parametrize("args,message", [
    (("MultiHeadVer2", 0, 16, 4), "MultiHeadVer2: block_size must be a positive integer, got 0"),
    (("MultiHeadVer1", 8, -16, 4), "MultiHeadVer1: embed_size must be a positive integer, got -16"),
    (("HeadVer4", 8, 16, 0), "HeadVer4: head_size must be a positive integer, got 0"),
    (("HeadVer1", 0, 16), "HeadVer1: block_size must be a positive integer, got 0"),
])
def test_sizes_that_are_not_positive(backend, args, message):
    with pytest.raises(InputError, match=rf"^{message}"):
        getattr(backend.lib, args[0])(*args[1:])


# 7. Seeds, and which errors are one line.

@pytest.mark.parametrize("seed", ["99999999999999999999", "-1", "x"])
def test_a_bad_seed_names_the_flag(capsys, tmp_path, seed):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--backend", "flax", "--seed", seed, "--out", str(tmp_path)] + QUICK)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert "argument --seed: expected an integer in [0, 2147483647]" in err


def test_a_bug_is_not_reported_as_a_user_mistake(monkeypatch):
    """Only the project's own error types are one line: a ValueError from inside is the bug it is."""
    from learngpt_lab.commands import parity
    monkeypatch.setattr(parity, "run", lambda args: int("not a number"))
    with pytest.raises(ValueError, match="invalid literal"):
        main(["parity"])


# 8. The corpus cache.

def test_a_cache_folder_that_cannot_be_made_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(a_file(tmp_path)))
    monkeypatch.setattr(data, "beside_checkout", lambda: tmp_path / "no-shared" / data.CORPUS_NAME)
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: (_ for _ in ()).throw(AssertionError))
    one_line(capsys, ["train", "--backend", "torch", "--out", str(tmp_path / "o")] + QUICK,
             "the cache folder", "cannot be made")


def test_a_damaged_cache_file_is_named_when_removed(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(data, "beside_checkout", lambda: tmp_path / "no-shared" / data.CORPUS_NAME)
    cached = data.cache_dir() / data.CORPUS_NAME
    cached.parent.mkdir(parents=True)
    cached.write_text("not shakespeare")

    def offline(url, timeout):
        raise data.urllib.error.URLError("offline")
    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    with pytest.raises(data.CorpusNotFoundError):
        data.find_corpus()
    err = capsys.readouterr().err
    assert f"removed {cached}: its sha256" in err and not cached.exists()


# 9. Hand-made safetensors headers.

def header_file(path: Path, header) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)
    return path


@pytest.mark.parametrize("header,why", [
    ({"w": {"dtype": "F32", "shape": [1]}}, "the entry 'w' is not"),
    ([1, 2, 3], "a JSON list, expected an object"),
    ({"__metadata__": {"a": 1}}, "__metadata__ is not a map of strings"),
])
def test_hand_made_headers_are_one_line(capsys, tmp_path, header, why):
    path = header_file(tmp_path / "h.safetensors", header)
    with pytest.raises(WeightsFileError, match="corrupt safetensors header"):
        read_weights(path)
    one_line(capsys, ["generate", "--checkpoint", str(path)], why)


# 10. Messages.

def test_an_argparse_mistake_is_one_line_with_a_pointer_to_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--backend", "torch", "--batch-size", "many"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert "argument --batch-size" in err and "(see learngpt train --help)" in err


def test_a_corpus_that_is_not_text_is_named(capsys, tmp_path):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"abc\xff\xfe\x00")
    one_line(capsys, ["train", "--backend", "torch", "--data", str(binary), "--out", str(tmp_path / "o")] + QUICK,
             str(binary), "is not UTF-8 text (byte 0xff at offset 3)")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    one_line(capsys, ["train", "--backend", "torch", "--data", str(empty), "--out", str(tmp_path / "o")] + QUICK,
             f"{empty} is empty")


# 11. Write hygiene.

def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    killed = ("import os, sys; from learngpt import files; "  # a writer killed mid-write (issue 41: a real one's
              "files.atomic_write(sys.argv[1], lambda tmp: os._exit(0))")  # temporary, not a hand-made name)
    subprocess.run([sys.executable, "-c", killed, str(tmp_path / "w.safetensors")], check=True, timeout=60)
    (stale,) = tmp_path.iterdir()
    mine = tmp_path / files.temp_name("other")  # a live writer's (this process): left alone
    mine.write_bytes(b"in progress")
    users = [tmp_path / f".draft.{dead}.v2.tmp", tmp_path / ".draft.999999.v2.tmp"]  # the user's own files
    for f in users:
        f.write_bytes(b"mine")
    write_weights(tmp_path / "w.safetensors", {"a": np.zeros(3, np.float32)})
    assert not stale.exists() and mine.exists()
    assert all(f.read_bytes() == b"mine" for f in users), "the sweep removed a user's file"


def test_a_weights_file_is_written_by_one_writer_leaving_no_temporary_of_its_own(tmp_path, monkeypatch):
    """safetensors' file writer keeps temporaries of its own (.tmpXXXXXX) that a SIGKILL leaves behind: the
    bytes are made in memory and written through the one atomic writer instead."""
    import safetensors.numpy
    monkeypatch.setattr(safetensors.numpy, "save_file", lambda *a, **k: pytest.fail("safetensors wrote a file"))
    path = write_weights(tmp_path / "w.safetensors", {"a": np.arange(3, dtype=np.float32)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]
    assert read_weights(path)[0]["a"].tolist() == [0.0, 1.0, 2.0]


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


def test_a_failed_text_write_leaves_the_old_file(tmp_path):
    path = files.write_text(tmp_path / "sample.txt", "old")

    def fail(tmp):
        Path(tmp).write_text("half")
        raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(path, fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["sample.txt"]


def test_replacing_an_earlier_run_says_so(capsys, tmp_path):
    assert main(["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK) == 0
    capsys.readouterr()
    assert main(["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK) == 0
    assert "exists; the new checkpoint will replace it" in capsys.readouterr().err


def test_a_second_run_on_a_locked_folder_is_refused(capsys, tmp_path):
    with files.RunLock(tmp_path):
        one_line(capsys, ["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK,
                 f"--out {tmp_path} is in use by another learngpt run (pid {os.getpid()})")
        one_line(capsys, ["bench", "--quick", "--loop-steps", "0", "--components", "HeadVer4", "--impls", "torch",
                          "--no-sweep", "--no-progress", "--out", str(tmp_path)],
                 f"--out {tmp_path} is in use by another learngpt run (pid {os.getpid()})")
    assert not list(tmp_path.glob("bench-*")), "the refused bench wrote its results"


# 12. The second round (issue 24): one line, a non-zero exit, nothing written.

@pytest.mark.parametrize("seed", ["-5", "99999999999999999999"])
def test_parity_refuses_a_seed_out_of_range_as_the_other_commands_do(capsys, seed):
    with pytest.raises(SystemExit) as exit_:  # argparse's own exit, in one line
        main(["parity", "--component", "HeadVer1", "--seed", seed])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "expected an integer in [0, 2147483647]" in err


def test_an_empty_out_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line(capsys, ["train", "--backend", "torch", "--out", ""] + QUICK, "--out is empty")
    assert not list(tmp_path.iterdir()), "something was written into the current folder"


def test_an_empty_only_is_refused(capsys):
    one_line(capsys, ["questions", "--only", ""], "has an empty name")


def test_a_negative_learning_rate_in_exponent_form_is_a_value(capsys, tmp_path):
    one_line(capsys, ["train", "--backend", "torch", "--learning-rate", "-1e-3", "--out", str(tmp_path)] + QUICK,
             "learning_rate must be a positive finite number")


def test_a_fifo_as_the_corpus_is_named_for_what_it_is(capsys, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    one_line(capsys, ["train", "--backend", "torch", "--data", str(fifo), "--out", str(tmp_path / "o")] + QUICK,
             "is not a regular file")


def test_compare_names_the_flag_that_does_not_divide_the_batch(capsys, tmp_path):
    err = one_line(capsys, ["compare", "--devices", "3", "--out", str(tmp_path)] + QUICK, "--devices")
    assert "--nproc" not in err


def test_generate_refuses_a_negative_token_count(backend):
    model = gpt(backend)
    for call in (backend.generate, backend.complete):
        with pytest.raises(InputError, match="max_new_tokens must be a whole number >= 0, got -1"):
            call(model, np.zeros((1, 3), np.int64), -1)


@pytest.mark.parametrize("argv", [["parity"],
                                  ["questions", "--only", "test_head_ver_1_averages_the_past,test_head_ver_2_equals"]])
def test_a_closed_pipe_ends_the_output_quietly(argv, tmp_path):
    """`learngpt ... | head -1`: no BrokenPipeError traceback, exit 141 (SIGPIPE's status in a shell)."""
    proc = subprocess.Popen([sys.executable, "-m", "learngpt_lab.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()  # the reader is gone before the writer is done
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_ctrl_c_while_the_command_starts_is_one_line(tmp_path):
    """SIGINT as soon as the interpreter runs learngpt's code (during the imports): one line, exit 130."""
    code = ("import signal, os, sys; from learngpt_lab import cli; "
            "real = cli.build_parser; "
            "cli.build_parser = lambda argv: (os.kill(os.getpid(), signal.SIGINT), real(argv))[1]; "
            "sys.exit(cli.main(['train', '--backend', 'torch', '--out', sys.argv[1]]))")
    got = subprocess.run([sys.executable, "-c", code, str(tmp_path / "o")], capture_output=True, text=True,
                         timeout=120)
    assert got.returncode == 130, got.stderr
    assert got.stderr.strip() == "learngpt: interrupted"


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


def test_a_folder_where_the_checkpoint_goes_is_refused_before_training(capsys, tmp_path):
    (tmp_path / "torch.safetensors").mkdir()
    one_line(capsys, ["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK, "is a folder")
    with pytest.raises(WriteError, match="a folder is in its place"):
        files.write_text(tmp_path / "torch.safetensors", "x")


def test_a_file_in_the_current_folder_cannot_replace_an_installed_package(tmp_path):
    """parity's --torch/--flax modules are found in the environment first: a fractions.py (as a torch.py would)
    in the current folder is not what `import fractions` gives the user's module."""
    (tmp_path / "fractions.py").write_text("raise SystemExit('the current folder shadowed a package')\n")
    (tmp_path / "mymod.py").write_text("import fractions\n\n\ndef where():\n    return fractions.__file__\n")
    code = ("import sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "  # as the console script runs
            "from learngpt_lab.commands.parity import load; print(load('mymod:where', '--torch')())")
    got = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    assert str(tmp_path) not in got.stdout and got.stdout.strip().endswith("fractions.py")


# 13. The rest of issue 24: one set of outputs, signals that always stop the run, sizes bounded by memory.

def compare_proc(out, *flags, **kw):
    return subprocess.Popen([sys.executable, "-m", "learngpt_lab.cli", "compare", "--eval-iters", "1",
                             "--eval-interval", "1", "--n-layers", "1", "--sample-tokens", "5", "--out", str(out),
                             *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def earlier_set(out: Path) -> dict[str, bytes]:
    """An earlier compare run's files in out, with the manifest that makes them compare's (issue 41: a compare
    replaces only its own earlier set)."""
    from learngpt_lab.commands.compare import OUTPUTS
    out.mkdir()
    for name in OUTPUTS:
        (out / name).write_bytes(f"the earlier run's {name}".encode())
    (out / files.OutputSet.MANIFEST).write_text(json.dumps({"command": "compare", "files": {
        name: files.sha256(out / name) for name in OUTPUTS}}))
    return {name: (out / name).read_bytes() for name in OUTPUTS + (files.OutputSet.MANIFEST,)}


def workers_of(pid: int) -> set[int]:
    """The worker processes (spawned interpreters, not the resource tracker) under pid."""
    found = set()
    for p in descendants(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes():
                found.add(p)
        except OSError:
            pass
    return found


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


def test_ctrl_c_during_a_progress_bar_prints_its_line_on_a_line_of_its_own(tmp_path):
    """The bar is cleared (tqdm's close) when the run stops: the one line does not trail the bar's text."""
    proc = launch(["train", "--backend", "torch", "--iters", "1000000", "--eval-interval", "1000",
                   "--eval-iters", "1", "--n-layers", "1", "--out", str(tmp_path)], start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.stderr.read(1) not in ("%", ""):
        pass  # the bar is showing (or the command ended: the asserts below say how)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.rstrip("\n").split("\n")[-1].split("\r")[-1] == "learngpt: interrupted", repr(err[-300:])


def fake_command(body: str) -> str:
    """Python that runs the learngpt entry point on a command whose run(args) is body (indented code)."""
    return ("import gc, os, signal, sys, time, types\n"
            "from learngpt_lab import cli\n"
            "fake = types.ModuleType('learngpt_lab.commands.train')\n"
            "fake.add_arguments = lambda parser: None\n"
            "def run(args):\n" + body +
            "fake.run = run\n"
            "sys.modules['learngpt_lab.commands.train'] = fake\n"
            "sys.exit(cli.main(['train']))\n")


def test_ctrl_c_during_a_garbage_collector_callback_still_stops_the_run():
    """SIGINT handled while a gc callback runs (as JAX's _xla_gc_callback does during a Flax run): raised
    there, the KeyboardInterrupt is printed as 'Exception ignored' and dropped, and the run goes on; the
    entry point's handler delivers it just after, outside the callback."""
    body = ("    fired = []\n"
            "    def callback(phase, info):\n"
            "        if phase == 'start' and not fired:\n"
            "            fired.append(1)\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "            fired.append(2)  # the signal's Python handler runs here, inside the callback\n"
            "    gc.callbacks.append(callback)\n"
            "    gc.collect()\n"
            "    end = time.monotonic() + 30\n"
            "    while time.monotonic() < end:\n"
            "        sum(range(1000))\n"
            "    return 0\n")
    got = subprocess.run([sys.executable, "-c", fake_command(body)], capture_output=True, text=True, timeout=120)
    assert (got.returncode, got.stderr.strip()) == (130, "learngpt: interrupted"), got


def test_a_run_that_swallows_ctrl_c_still_ends_after_the_grace_period():
    """Code that catches KeyboardInterrupt and goes on: the run still ends, one line, exit 130."""
    body = ("    end = time.monotonic() + 60\n"
            "    while time.monotonic() < end:\n"
            "        try:\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "            time.sleep(0.01)\n"
            "        except KeyboardInterrupt:\n"
            "            pass\n"
            "    return 0\n")
    got = subprocess.run([sys.executable, "-c", fake_command(body)], capture_output=True, text=True, timeout=120)
    assert (got.returncode, got.stderr.strip()) == (130, "learngpt: interrupted"), got


def test_sigterm_is_one_line_and_exit_143():
    body = "    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(30)\n    return 0\n"
    got = subprocess.run([sys.executable, "-c", fake_command(body)], capture_output=True, text=True, timeout=120)
    assert (got.returncode, got.stderr.strip()) == (143, "learngpt: terminated (SIGTERM)"), got


@pytest.mark.parametrize("flags, field", [
    (["--eval-iters", "100000000000"], "eval_iters"),
    (["--n-layers", "100000000"], "n_layers"),
    (["--iters", "100000000000"], "max_iters"),
    (["--batch-size", "1000000000"], "batch_size"),
    (["--block-size", "100000"], "block_size"),
    (["--embed-size", "10000000", "--n-heads", "1"], "embed_size"),
])
def test_sizes_that_cannot_fit_in_memory_are_refused_before_any_work(capsys, tmp_path, backend, flags, field,
                                                                    monkeypatch):
    from learngpt import memory
    monkeypatch.setattr(backends.Backend, "create", lambda *a, **k: pytest.fail("a model was built"))
    limit = memory.readable(memory.machine_bytes())
    argv = ["train", "--backend", backend.name, "--out", str(tmp_path)] + QUICK + flags
    err = one_line(capsys, argv, "the run would need about", f"more than this machine's {limit}",
                   f"{field} {flags[1]} -> at most")
    assert not list(tmp_path.glob("*.safetensors")), err


def test_compare_bounds_its_sizes_too(capsys, tmp_path):
    one_line(capsys, ["compare", "--out", str(tmp_path), "--eval-iters", "100000000000"] + QUICK[:2] + QUICK[4:],
             "the run would need about", "eval_iters 100000000000 -> at most")
    assert not (tmp_path / "init.safetensors").exists()


def test_a_block_longer_than_a_split_is_refused_before_anything_is_allocated(capsys, tmp_path, monkeypatch):
    from learngpt import memory
    monkeypatch.setattr(memory, "check", lambda *a, **k: pytest.fail("sized before the split was checked"))
    one_line(capsys, ["train", "--backend", "torch", "--block-size", "2000000", "--out", str(tmp_path)] + QUICK,
             "the train split has 1003854 tokens; expected more than block_size 2000000")


def test_the_python_api_bounds_memory_before_building_or_training(backend, corpus, monkeypatch):
    from learngpt import memory
    from learngpt.data import BatchSampler
    from learngpt.errors import ConfigError
    monkeypatch.setattr(memory, "machine_bytes", lambda: 2**30)  # a 1 GiB machine, whatever this one has
    with pytest.raises(ConfigError, match=r"^the model would need about 24\.6 GiB of memory \(mostly parameters\), "
                                          r"more than this machine's 1\.0 GiB$"):
        backend.create(NANOGPT.recipe(Config(n_layers=2_000_000)))
    cfg = Config(n_layers=1, eval_iters=10**9)
    model = backend.create(NANOGPT.recipe(cfg), example=np.zeros((1, 8), np.int64))
    with pytest.raises(ConfigError, match=r"eval_iters 1000000000 -> at most \d+ fits"):
        backend.train(model, cfg, BatchSampler(corpus, cfg.batch_size, cfg.block_size, 0))


def test_questions_refuse_a_folder_as_the_json_file_before_any_question(capsys, tmp_path, monkeypatch):
    from learngpt_lab import questions
    monkeypatch.setattr(questions, "ask", lambda *a, **k: pytest.fail("a question was asked"))
    one_line(capsys, ["questions", "--only", "test_head_ver_1_averages_the_past", "--json", str(tmp_path)],
             f"--json {tmp_path}: a folder is in its place")
    one_line(capsys, ["questions", "--json", ""], "--json is empty")


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_lock_path_that_is_a_fifo_or_a_folder_is_one_line(capsys, tmp_path, kind):
    lock = tmp_path / files.RunLock.NAME
    os.mkfifo(lock) if kind == "fifo" else lock.mkdir()
    err = one_line(capsys, ["train", "--backend", "torch", "--out", str(tmp_path)] + QUICK, "not a plain file")
    assert " is is " not in err, err

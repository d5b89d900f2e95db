"""Nothing lost on the new surfaces (issue 41, the third round of faults and bad input): one test per fault,
each failing on the code before its fix. In-process where the fault allows; a real process where it is about
the process itself (its signals, its environment)."""
import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from learngpt import files, resume
from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.errors import UserError
from learngpt_lab import backends
from learngpt_lab.cli import main
from learngpt_lab import checkpoints as checkpoint
from parity.weights import WeightsFileError, read_weights, write_weights
from helpers import one_line

TINY = ["--iters", "1", "--eval-iters", "1", "--eval-interval", "1", "--no-progress", "--n-layers", "1",
        "--embed-size", "16", "--n-heads", "4", "--block-size", "8", "--batch-size", "4"]
VOCAB = "\n !,.:;?abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
CFG = Config(vocab_size=len(VOCAB), n_layers=1, n_heads=4, embed_size=16, block_size=8)




def tiny_checkpoint(path: Path, scale: float = 1.0, **meta_changes) -> Path:
    """A tiny torch-initialised checkpoint, its weights times scale and its metadata changed, the digest
    recomputed: what a crafted file looks like."""
    b = backends.get("torch")
    weights = {k: v * np.float32(scale) for k, v in b.get_weights(b.create(NANOGPT.recipe(CFG), seed=0)).items()}
    meta = {"format": "learngpt-checkpoint", "version": "2", "config": json.dumps(CFG.to_dict()),
            "architecture": json.dumps(NANOGPT.to_dict()), "vocab": VOCAB, "backend": "torch", "step": "3",
            **meta_changes}
    return write_weights(path, weights, {**meta, "sha256": checkpoint.digest(weights, meta)})


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != files.RunLock.NAME}


# 1. An output folder's files belong to the command that wrote them.

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


# 2. A model whose forward gives non-finite logits is refused before sampling or drawing.

@pytest.mark.parametrize("how", [["--greedy"], []], ids=["greedy", "sampled"])
def test_generate_refuses_finite_weights_that_overflow(capsys, tmp_path, backend, how):
    crafted = tiny_checkpoint(tmp_path / "big.safetensors", scale=1e30)
    one_line(capsys, ["generate", "--checkpoint", str(crafted), "--backend", backend.name, "--tokens", "3", *how],
             "non-finite logits", "refused before sampling")
    assert capsys.readouterr().out == ""


def test_attention_refuses_finite_weights_that_overflow(capsys, tmp_path):
    crafted = tiny_checkpoint(tmp_path / "big.safetensors", scale=1e30)
    one_line(capsys, ["attention", "--checkpoint", str(crafted), "--prompt", "ab", "--backends", "torch,flax,nnx",
                      "--out", str(tmp_path / "a.png")], "non-finite logits")
    assert not (tmp_path / "a.png").exists()


# 3. bench's results are one set, every output path checked before the work.

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


# 4. Every size read from a file is bounded before any work.

@pytest.mark.parametrize("step", [str(10**30 - 1), "-5", "1e3", str(checkpoint.MAX_STEP + 1)])
def test_a_checkpoint_step_out_of_bounds_is_refused_before_any_batch(capsys, tmp_path, monkeypatch, step):
    monkeypatch.setattr(resume, "sampler", lambda *a, **k: pytest.fail("the batches were skipped"))
    crafted = tiny_checkpoint(tmp_path / "c.safetensors", step=step)
    one_line(capsys, ["train", "--backend", "torch", "--resume", str(crafted), "--out", str(tmp_path / "o"),
                      "--iters", "1", "--no-progress"], f"step must be a whole number in [0, {checkpoint.MAX_STEP}]")


def test_a_resumed_run_may_not_pass_the_most_steps_a_checkpoint_records(tmp_path):
    saved = checkpoint.load(tiny_checkpoint(tmp_path / "c.safetensors", step=str(checkpoint.MAX_STEP - 1)))
    with pytest.raises(ValueError, match=r"passes 10000000"):
        resume.check_step(saved.step, 2, "c")
    resume.check_step(saved.step, 1, "c")


def test_the_skipped_batches_are_the_ones_sample_draws(corpus):
    from learngpt.data import BatchSampler
    cfg = Config(vocab_size=corpus.tokenizer.vocab_size, batch_size=4, block_size=8)
    walked = BatchSampler(corpus, 4, 8, cfg.seed)
    for _ in range(7):
        walked.sample("train")
    for a, b in zip(walked.sample("train"), resume.sampler(corpus, cfg, 7).sample("train")):
        np.testing.assert_array_equal(a, b)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("field", ["config", "architecture"])
def test_a_nested_json_bomb_in_the_metadata_is_one_line(capsys, tmp_path, field):
    crafted = tiny_checkpoint(tmp_path / "c.safetensors", **{field: nested(100_000)})
    one_line(capsys, ["generate", "--checkpoint", str(crafted), "--tokens", "2"], "JSON nested 100000 levels deep")


def test_a_nested_json_bomb_in_the_header_is_one_line(capsys, tmp_path):
    header = ('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "x": ' + nested(100_000) + "}").encode()
    path = tmp_path / "h.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    one_line(capsys, ["generate", "--checkpoint", str(path), "--tokens", "2"], "corrupt safetensors header",
             "JSON nested 100001 levels deep")


def test_a_header_length_beyond_safetensors_bound_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "h.safetensors"
    path.write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    with pytest.raises(WeightsFileError, match="more than the 100000000 safetensors allows"):
        read_weights(path)


def test_json_depth_counts_brackets_outside_strings_only():
    assert files.json_depth('{"a": "[[[[", "b": [[1], {"c": "]]\\"["}]}') == 3
    with pytest.raises(ValueError, match="nested 65 levels deep"):
        files.loads_json(nested(65))


def test_a_manifest_bomb_is_no_manifest(tmp_path):
    (tmp_path / files.OutputSet.MANIFEST).write_text('{"command": "compare", "files": {}, "x": ' + nested(10**5) + "}")
    assert files.read_manifest(tmp_path / files.OutputSet.MANIFEST) is None
    with pytest.raises(UserError, match="manifest.json was not written by an earlier compare"):
        a_set(tmp_path, "compare", {"a.txt": b"1"})


# 5. Signals are one line from the first instruction to the last.

def entry(code: str, *argv: str, **kw):
    """Python that runs the console script's entry (sys.argv[0] 'learngpt') after code."""
    return subprocess.run([sys.executable, "-c", "import os, signal, sys\n" + code +
                           "\nsys.argv = ['learngpt', *sys.argv[1:]]\nfrom learngpt_lab.cli import main\n"
                           "sys.exit(main())\n", *argv], capture_output=True, text=True, timeout=120, **kw)


def test_ctrl_c_during_the_entry_points_imports_is_one_line():
    """SIGINT while learngpt_lab.cli imports learngpt (before learngpt/signals.py's handling is installed)."""
    hook = ("class Hook:\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'learngpt.signals':\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "sys.meta_path.insert(0, Hook())")
    got = entry(hook, "train", "--help")
    assert (got.returncode, got.stderr.strip(), got.stdout) == (130, "learngpt: interrupted", ""), got


@pytest.mark.parametrize("signum, status, line", [(signal.SIGTERM, 143, "learngpt: terminated (SIGTERM)"),
                                                  (signal.SIGINT, 130, "learngpt: interrupted")])
def test_a_signal_during_teardown_after_a_successful_run_is_one_line(signum, status, line):
    fake = ("import atexit, time, types\n"
            "fake = types.ModuleType('learngpt_lab.commands.train')\n"
            "fake.add_arguments = lambda parser: None\n"
            "def run(args):\n"
            f"    atexit.register(lambda: (os.kill(os.getpid(), {int(signum)}), time.sleep(5)))\n"
            "    print('done')\n"
            "    return 0\n"
            "fake.run = run\n"
            "sys.modules['learngpt_lab.commands.train'] = fake")
    got = entry(fake, "train")
    assert (got.returncode, got.stderr.strip(), got.stdout) == (status, line, "done\n"), got


# 6. JAX told of no CPU platform: one line on every command that runs JAX.

@pytest.mark.parametrize("argv", [["generate", "--backend", "flax", "--tokens", "2"],
                                  ["attention", "--prompt", "ab", "--backends", "torch,nnx"]],
                         ids=["generate", "attention"])
def test_jax_platforms_naming_no_platform_is_one_line(tmp_path, argv):
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors")
    out = ["--out", str(tmp_path / "a.png")] if argv[0] == "attention" else []
    got = subprocess.run([sys.executable, "-m", "learngpt_lab.cli", *argv, "--checkpoint", str(ckpt), *out],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "JAX_PLATFORMS": "bogus"})
    err = got.stderr.strip()
    assert got.returncode == 2 and len(err.splitlines()) == 1, err
    assert err.endswith("error: JAX sees no cpu device: JAX_PLATFORMS is 'bogus' (the platforms JAX may use); unset "
                        "it or name cpu in it"), err


# 7. A flag that does nothing with the others is refused, never dropped.

@pytest.mark.parametrize("argv, said", [
    (["train", "--backend", "flax"], "--backend flax trains no torch model"),
    (["train", "--backend", "nnx"], "--backend nnx trains no torch model"),
    (["train", "--backend", "torch", "--nproc", "2"], "data parallel"),
    (["compare", "--backends", "flax"], "--backends flax trains no torch model"),
    (["compare", "--nproc", "2"], "data parallel"),
])
def test_torch_compile_where_it_would_do_nothing_is_refused(capsys, tmp_path, argv, said):
    one_line(capsys, [*argv, "--torch-compile", "--out", str(tmp_path)] + TINY, "--torch-compile", said)
    assert not list(tmp_path.glob("*.safetensors"))


def test_torch_compile_with_resume_is_refused(capsys, tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors")
    one_line(capsys, ["train", "--backend", "torch", "--torch-compile", "--resume", str(ckpt), "--out",
                      str(tmp_path / "o"), "--iters", "1"], "--torch-compile with --resume")


# 8. The rest.

def test_lesson_html_empty_is_refused(capsys):
    one_line(capsys, ["lesson", "HeadVer4", "--no-live", "--html", ""], "--html is empty")


def test_attention_backends_empty_is_refused_as_compare_refuses_it(capsys, tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors")
    one_line(capsys, ["attention", "--checkpoint", str(ckpt), "--prompt", "ab", "--backends", "",
                      "--out", str(tmp_path / "a.png")], "--backends is empty")
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("value, shown", [("0", False), ("", False), ("no", False), ("false", False),
                                          ("1", True), ("true", True), ("yes", True)])
def test_only_a_true_learngpt_debug_shows_tracebacks(capsys, tmp_path, monkeypatch, value, shown):
    monkeypatch.setenv("LEARNGPT_DEBUG", value)
    argv = ["generate", "--checkpoint", str(tmp_path / "absent.safetensors")]
    if shown:
        with pytest.raises(WeightsFileError):
            main(argv)
    else:
        one_line(capsys, argv, "weights file not found")


@pytest.mark.parametrize("command", ["train", "generate"])
def test_help_names_every_backend(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert backends.spelled() in text and "torch or flax" not in text
    assert backends.spelled() == "torch, flax or nnx"


def test_attention_out_naming_its_own_checkpoint_is_refused(capsys, tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors")
    before = ckpt.read_bytes()
    one_line(capsys, ["attention", "--checkpoint", str(ckpt), "--prompt", "ab", "--out",
                      str(tmp_path / "." / "c.safetensors")], "is the --checkpoint the run reads")
    assert ckpt.read_bytes() == before


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


def test_a_killed_writers_own_temporary_is_still_removed(tmp_path):
    code = ("import os, sys; from learngpt import files; "
            "files.atomic_write(sys.argv[1], lambda tmp: os._exit(0))")  # dies mid-write: its temporary stays
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "w.txt")], check=True, timeout=60)
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and files.temp_owner(left[0]) is not None, left
    files.write_text(tmp_path / "x.txt", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]

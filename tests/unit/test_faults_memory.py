"""Sizes bounded by memory: a run whose sizes cannot fit in this machine's memory is refused before any model is
built, in one line naming the size, what the run would need and the most that fits; compare and the
Python API are bounded too, and a block longer than a split is refused before anything is allocated."""
import numpy as np
import pytest

from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt_lab import backends
from helpers import QUICK, one_line


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

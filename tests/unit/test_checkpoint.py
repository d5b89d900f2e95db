"""Checkpoints: one safetensors format for both backends; clear errors, nothing loaded partially, atomic writes."""
import json
import os

import numpy as np
import pytest

from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt_lab import checkpoints as checkpoint
from parity.bridge import WeightMismatchError
from parity.weights import WeightsFileError, read_weights, write_weights

VOCAB = "\n !abcdefghijklmnopqrstuvwxyz"
CFG = Config(vocab_size=len(VOCAB), n_layers=1, n_heads=4, embed_size=16)
EXAMPLE = np.zeros((1, CFG.block_size), np.int64)


@pytest.fixture
def saved(tmp_path, backend):
    """A checkpoint written by the backend under test, and the model it came from."""
    model = backend.create(NANOGPT.recipe(CFG), example=EXAMPLE, seed=3)
    path = backend.save_checkpoint(tmp_path / "m.safetensors", model, CFG, VOCAB, step=7)
    return path, model


def test_round_trip_keeps_weights_config_and_vocab(saved, backend):
    path, model = saved
    loaded, ckpt = backend.load_checkpoint(path)
    assert ckpt.config == CFG and ckpt.vocab == VOCAB and ckpt.step == 7 and ckpt.backend == backend.name
    assert ckpt.architecture == NANOGPT
    before, after = backend.get_weights(model), backend.get_weights(loaded)
    assert sorted(before) == sorted(after)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


def test_file_is_torch_layout_with_metadata(saved):
    path, _ = saved
    weights, meta = read_weights(path)
    assert "lm_head.weight" in weights and weights["lm_head.weight"].shape == (len(VOCAB), CFG.embed_size)  # (out, in)
    assert meta["format"] == checkpoint.FORMAT
    assert json.loads(meta["config"])["n_layers"] == 1
    assert json.loads(meta["architecture"])["contextualizer"] == "BlockVer4"


def test_either_backend_reads_the_other_backends_file(saved, backend):
    from learngpt_lab import backends
    path, model = saved
    x = np.random.default_rng(0).integers(0, len(VOCAB), size=(2, CFG.block_size))
    for other in backends.NAMES:
        loaded, _ = backends.get(other).load_checkpoint(path)
        np.testing.assert_allclose(backends.get(other).forward(loaded, x), backend.forward(model, x), rtol=0, atol=2e-5)


def test_truncated_file_is_refused(saved, backend):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(WeightsFileError, match="truncated"):
        backend.load_checkpoint(path)


def test_flipped_data_byte_is_caught_by_the_digest(saved, backend):
    path, _ = saved
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the last tensor's bytes: the header is intact
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsFileError, match="corrupt"):
        backend.load_checkpoint(path)


def test_garbage_and_missing_files(tmp_path, backend):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    with pytest.raises(WeightsFileError):
        backend.load_checkpoint(junk)
    with pytest.raises(WeightsFileError, match="not found"):
        backend.load_checkpoint(tmp_path / "absent.safetensors")


def test_plain_weights_file_is_not_a_checkpoint(saved, tmp_path, backend):
    path, _ = saved
    weights, _ = read_weights(path)
    plain = write_weights(tmp_path / "plain.safetensors", weights)
    with pytest.raises(WeightsFileError, match="not a learngpt checkpoint"):
        backend.load_checkpoint(plain)


def test_weights_that_do_not_fit_the_config_load_nothing(saved, tmp_path, backend):
    path, _ = saved
    weights, meta = read_weights(path)
    meta["config"] = json.dumps(CFG.replace(block_size=16).to_dict())  # claims a longer position table
    meta["sha256"] = checkpoint.digest(weights, meta)
    bad = write_weights(tmp_path / "bad.safetensors", weights, meta)
    with pytest.raises(WeightMismatchError, match="nothing was loaded"):
        backend.load_checkpoint(bad)


def test_loading_into_an_existing_model_is_all_or_nothing(saved, backend):
    path, model = saved
    ckpt = checkpoint.load(path)
    before = backend.get_weights(model)
    broken = dict(ckpt.weights)
    broken["lm_head.bias"] = np.zeros(3, np.float32)  # one wrong shape among correct tensors
    with pytest.raises(WeightMismatchError, match="lm_head.bias"):
        backend.set_weights(model, broken)
    after = backend.get_weights(model)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


def test_write_is_atomic(saved, monkeypatch, backend):
    path, model = saved
    original = path.read_bytes()
    from pathlib import Path

    def fail(self, data):  # half the bytes reach the temporary file, then the disk is full
        with open(self, "wb") as f:
            f.write(data[:len(data) // 2])
        raise OSError("disk full")
    monkeypatch.setattr(Path, "write_bytes", fail)
    with pytest.raises(OSError, match="disk full"):
        backend.save_checkpoint(path, model, CFG, VOCAB, step=8)
    assert path.read_bytes() == original  # the old file is untouched
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_vocab_must_match_config(tmp_path, backend):
    model = backend.create(NANOGPT.recipe(CFG), example=EXAMPLE)
    with pytest.raises(ValueError, match="vocabulary"):
        backend.save_checkpoint(tmp_path / "x.safetensors", model, CFG, VOCAB[:-1])
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("field, value", [
    ("config", json.dumps(CFG.replace(n_heads=2).to_dict())),  # loads, and the logits would move
    ("vocab", VOCAB[::-1]),  # the same characters in another order: other text, exit 0
    ("architecture", json.dumps({**NANOGPT.to_dict(), "n_layers": 1})),
    ("backend", "nobody"),
    ("step", "8"),
])
def test_an_edited_metadata_field_is_caught_by_the_digest(saved, tmp_path, backend, field, value):
    path, _ = saved
    weights, meta = read_weights(path)
    assert meta[field] != value
    edited = write_weights(tmp_path / "edited.safetensors", weights, {**meta, field: value})
    with pytest.raises(WeightsFileError, match="corrupt"):
        backend.load_checkpoint(edited)


def test_every_flipped_header_bit_is_refused_or_changes_nothing(saved, backend):
    """The issue's probe on a sample of the header's bits: a file either fails to load, or loads exactly what
    was saved (metadata and tensors)."""
    path, _ = saved
    good = checkpoint.load(path)
    data = path.read_bytes()
    header = 8 + int.from_bytes(data[:8], "little")
    for bit in range(64, header * 8, 97):  # every 97th bit of the JSON header
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
        try:
            got = checkpoint.load(path)
        except (WeightsFileError, WeightMismatchError, ValueError):
            continue
        assert (got.config, got.architecture, got.vocab, got.backend, got.step) == (
            good.config, good.architecture, good.vocab, good.backend, good.step), f"bit {bit}"
        assert all(np.array_equal(got.weights[k], good.weights[k]) for k in good.weights), f"bit {bit}"


def test_a_checkpoint_with_integer_tensors_is_refused(saved, tmp_path, backend):
    path, _ = saved
    weights, meta = read_weights(path)
    weights = {k: v.astype(np.int32) if k == "lm_head.bias" else v for k, v in weights.items()}
    meta = {k: v for k, v in meta.items() if k != "sha256"}
    bad = write_weights(tmp_path / "int.safetensors", weights, {**meta, "sha256": checkpoint.digest(weights, meta)})
    with pytest.raises(WeightsFileError, match=r"not floating-point: lm_head.bias \(int32\)"):
        backend.load_checkpoint(bad)


def test_a_vocabulary_of_repeated_characters_is_refused(tmp_path, backend):
    model = backend.create(NANOGPT.recipe(CFG), example=EXAMPLE)
    repeated = VOCAB[:-1] + "a"
    with pytest.raises(ValueError, match="the vocabulary repeats 'a'"):
        backend.save_checkpoint(tmp_path / "x.safetensors", model, CFG, repeated)
    assert not os.listdir(tmp_path)


def test_a_version_1_checkpoint_is_refused_with_the_reason(saved, tmp_path, backend):
    path, _ = saved
    weights, meta = read_weights(path)
    old = write_weights(tmp_path / "v1.safetensors", weights, {**meta, "version": "1"})
    with pytest.raises(WeightsFileError, match="version 1's digest did not cover the metadata"):
        backend.load_checkpoint(old)


def test_a_checkpoint_describing_far_more_than_its_tensors_is_refused_before_building(saved, tmp_path, backend,
                                                                                      monkeypatch):
    """Metadata saying n_layers 2,000,000 beside a 1-layer model's tensors: refused in one line from the
    numbers alone, before a block of it is built (building it would take hours)."""
    from learngpt import components
    from learngpt.errors import ConfigError
    path, _ = saved
    weights, meta = read_weights(path)
    meta["config"] = json.dumps(CFG.replace(n_layers=2_000_000).to_dict())
    meta["sha256"] = checkpoint.digest(weights, meta)
    deep = write_weights(tmp_path / "deep.safetensors", weights, meta)
    monkeypatch.setattr(components, "stack", lambda *a, **k: pytest.fail("the model was built"))
    with pytest.raises(ConfigError, match=r"describes GPTVer4 with 2000000 x BlockVer4\(MultiHeadVer2\) of width 16, "
                                          r"at least 4,256,000,000 parameters, but the file holds [\d,]+ numbers"):
        backend.load_checkpoint(deep)

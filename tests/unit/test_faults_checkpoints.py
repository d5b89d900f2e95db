"""Files handed in: a checkpoint or safetensors file crafted by hand is refused in one line, and every size it
states is bounded before any work: a header that is not the format's, a header length beyond safetensors' bound
(refused unread), JSON nested deeper than the reader allows (counted outside strings), a step out of bounds
(before any batch is skipped); a resumed run may not pass the most steps a checkpoint records, and the batches
it skips are the ones sampling would have drawn."""
import json
from pathlib import Path

import numpy as np
import pytest

from learngpt_lab import files, resume
from learngpt.config import Config
from learngpt_lab import checkpoints as checkpoint
from parity.weights import WeightsFileError, read_weights
from helpers import nested, one_line, tiny_checkpoint


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


def test_a_header_length_beyond_safetensors_bound_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "h.safetensors"
    path.write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    with pytest.raises(WeightsFileError, match="more than the 100000000 safetensors allows"):
        read_weights(path)


# Nested JSON.

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


def test_json_depth_counts_brackets_outside_strings_only():
    assert files.json_depth('{"a": "[[[[", "b": [[1], {"c": "]]\\"["}]}') == 3
    with pytest.raises(ValueError, match="nested 65 levels deep"):
        files.loads_json(nested(65))


# The step a checkpoint records.

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

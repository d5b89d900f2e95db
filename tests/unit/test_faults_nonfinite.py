"""Non-finite numbers never pass for results: a diverged run stops naming the step and saves nothing; weights that
are not finite are never written to a checkpoint, and a checkpoint holding them is refused by generate, naming
the tensor; finite weights whose logits overflow are refused before sampling or drawing."""
import json
from pathlib import Path

import numpy as np
import pytest

from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.errors import DivergedError
from learngpt_lab import backends
from learngpt_lab.checkpoints import digest
from parity.weights import write_weights
from helpers import VOCAB, one_line, tiny_checkpoint


@pytest.mark.slow  # trains until it diverges (flax about 20 s)
def test_a_diverged_run_stops_naming_the_step_and_saves_nothing(capsys, tmp_path, backend):
    one_line(capsys, ["train", "--backend", backend.name, "--iters", "3", "--eval-iters", "1", "--eval-interval", "3",
                      "--no-progress", "--learning-rate", "1e30", "--out", str(tmp_path)],
             "training diverged", "at step")
    assert not list(tmp_path.glob("*.safetensors"))


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

"""`learngpt train --model NAME` for every language model of the registry, `--resume`, and generate's sampling
flags; tiny runs (a few steps, two evaluation batches)."""
import numpy as np
import pytest

from learngpt_lab import resume
from learngpt.components import LANGUAGE_MODELS, REGISTRY, language_model
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.errors import ConfigError
from learngpt_lab.cli import main
from learngpt_lab.checkpoints import load
from helpers import one_line

TINY = ["--iters", "4", "--eval-interval", "2", "--eval-iters", "2", "--batch-size", "4", "--n-layers", "1",
        "--embed-size", "8", "--n-heads", "2", "--no-progress"]


def evals(out: str) -> list[tuple[int, float, float]]:
    return [(int(w[1]), float(w[3]), float(w[5])) for w in (line.split() for line in out.splitlines())
            if w and w[0] == "step"]


def test_the_language_models_are_the_registrys_token_models():
    assert set(LANGUAGE_MODELS) == {n for n, c in REGISTRY.items() if c.takes_tokens}
    assert {"GPTVer1", "GPTVer3(HeadVer4)", "NanoGPT"} <= set(LANGUAGE_MODELS)
    with pytest.raises(ConfigError, match="is a component, not a language model"):
        language_model("BlockVer4")


@pytest.mark.parametrize("name", LANGUAGE_MODELS)
def test_every_stage_trains_and_saves_its_own_architecture(name, tmp_path, capsys, corpus):
    assert main(["train", "--backend", "torch", "--model", name, "--out", str(tmp_path), *TINY]) == 0
    printed = capsys.readouterr().out
    assert [e[0] for e in evals(printed)] == [0, 2, 4]
    ckpt = load(tmp_path / "torch.safetensors")
    assert ckpt.architecture == language_model(name) and ckpt.step == 4
    assert ckpt.architecture.describe(ckpt.config) in printed
    assert main(["generate", "--checkpoint", str(tmp_path / "torch.safetensors"), "--tokens", "5",
                 "--temperature", "0.8", "--top-k", "3", "--prompt", "RO"]) == 0
    assert len(capsys.readouterr().out) == len("RO") + 5 + 1


@pytest.mark.parametrize("model", ["GPTVer1", "GPTVer3(HeadVer4)"])
def test_flax_trains_an_early_stage_and_torch_resumes_it(model, tmp_path, capsys, corpus):
    """Steps continue from the checkpoint's; the resumed run's first evaluation is the first run's last (the
    same weights, the same fixed evaluation batches, across backends to float32 roundoff)."""
    assert main(["train", "--backend", "flax", "--model", model, "--out", str(tmp_path), *TINY]) == 0
    first = evals(capsys.readouterr().out)
    assert main(["train", "--backend", "torch", "--resume", str(tmp_path / "flax.safetensors"),
                 "--out", str(tmp_path), "--iters", "6", "--eval-interval", "3", "--eval-iters", "2",
                 "--no-progress"]) == 0
    run = capsys.readouterr()
    second = evals(run.out)
    assert "resuming" in run.err and "AdamW's moments start afresh" in run.err
    assert [e[0] for e in second] == [4, 7, 10]
    np.testing.assert_allclose(second[0][1:], first[-1][1:], atol=2e-4)  # printed to 4 decimals
    assert second[-1][2] < second[0][2], "the resumed run did not learn"
    ckpt = load(tmp_path / "torch.safetensors")
    assert ckpt.step == 10 and ckpt.architecture == language_model(model) and ckpt.config.embed_size == 8


def test_the_resumed_batches_continue_the_stream(corpus):
    cfg = Config(batch_size=4, block_size=8, vocab_size=corpus.tokenizer.vocab_size)
    fresh = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
    stream = [fresh.sample("train") for _ in range(7)]
    later = resume.sampler(corpus, cfg, 5).sample("train")
    np.testing.assert_array_equal(later[0], stream[5][0])
    assert not np.array_equal(later[0], stream[0][0])


def test_bad_train_and_resume_requests_are_one_line(tmp_path, capsys, corpus):
    one_line(capsys, ["train", "--backend", "torch", "--model", "GPTVer9", "--out", str(tmp_path)],
             "'GPTVer9' is not in the registry", "NanoGPT")
    one_line(capsys, ["train", "--backend", "torch", "--model", "FeedForward", "--out", str(tmp_path)],
             "not a language model")
    one_line(capsys, ["train", "--backend", "torch", "--resume", str(tmp_path / "none"), "--out", str(tmp_path)],
             "not found")
    one_line(capsys, ["train", "--backend", "torch", "--model", "GPTVer1", "--nproc", "2", "--out", str(tmp_path)],
             "data parallel")
    assert main(["train", "--backend", "torch", "--model", "GPTVer1", "--out", str(tmp_path), *TINY]) == 0
    saved = str(tmp_path / "torch.safetensors")
    capsys.readouterr()
    one_line(capsys, ["train", "--backend", "torch", "--resume", saved, "--model", "NanoGPT", "--out", str(tmp_path)],
             "keeps the checkpoint's model")
    one_line(capsys, ["train", "--backend", "torch", "--resume", saved, "--embed-size", "32", "--out", str(tmp_path)],
             "--embed-size 32", "trained with 8")
    other = tmp_path / "other.txt"
    other.write_text("abcdefgh \n" * 400)
    one_line(capsys, ["train", "--backend", "torch", "--resume", saved, "--data", str(other), "--out", str(tmp_path)],
             "the checkpoint's vocabulary (65 characters) is not this corpus's (10)")
    for flags, words in ((["--temperature", "0"], "--temperature"), (["--temperature", "nan"], "--temperature"),
                         (["--top-k", "0"], "--top-k")):
        with pytest.raises(SystemExit):
            main(["generate", "--checkpoint", saved, *flags])
        assert words in capsys.readouterr().err
    one_line(capsys, ["generate", "--checkpoint", saved, "--top-k", "500"], "top_k must be an integer in [1, 65]")

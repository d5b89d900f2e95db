"""`learngpt attention`: the attention weights both backends' modules keep, paired by module path and drawn
head by head, torch beside Flax, the prompt's characters on the axes."""
import numpy as np
import pytest

from learngpt_lab import attention_maps
from learngpt.components import NANOGPT, language_model
from learngpt.config import Config
from learngpt.errors import InputError
from learngpt_lab import backends
from learngpt_lab.cli import main
from helpers import one_line

VOCAB = "\n !,.:;?abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
CFG = Config(vocab_size=len(VOCAB), n_layers=2, n_heads=4)


def checkpoint(tmp_path, arch, name="m"):
    b = backends.get("torch")
    return b.save_checkpoint(tmp_path / f"{name}.safetensors", b.create(arch.recipe(CFG), seed=1), CFG, VOCAB,
                             architecture=arch)


def test_module_paths_are_spelled_as_torch_spells_them():
    assert attention_maps.torch_path("contextualizer.layers_1.head") == "contextualizer.1.head"  # linen
    assert attention_maps.torch_path("contextualizer.layers.1.head") == "contextualizer.1.head"  # NNX
    found = attention_maps.maps({"contextualizer.layers_0.head.attentions": np.zeros((2, 4, 3, 3)),
                                 "contextualizer.attentions": np.zeros((2, 3, 3)), "x.var": np.zeros(())})
    assert {k: v.shape for k, v in found.items()} == {"contextualizer.0.head": (4, 3, 3),
                                                      "contextualizer": (1, 3, 3)}
    with pytest.raises(InputError, match="torch keeps attention at"):
        attention_maps.pair({"torch": {"a": np.zeros((1, 2, 2))}, "flax": {"b": np.zeros((1, 2, 2))}})


def test_the_figure_pairs_each_head_of_both_backends_with_the_prompt_on_the_axes(tmp_path):
    prompt = "To be "
    found = {}
    path = checkpoint(tmp_path, NANOGPT)
    for name in ("torch", "flax"):
        b = backends.get(name)
        model, ckpt = b.load_checkpoint(path)
        idx = np.array([[ckpt.vocab.index(c) for c in prompt]])  # (1, T)
        found[name] = attention_maps.maps(b.intermediates(model, idx))
    fig, lines = attention_maps.figure(found, prompt, "a title")
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(axes) == 2 * 4 * 2  # blocks x heads x backends
    titles = [ax.get_title() for ax in axes]
    assert titles[:2] == ["contextualizer.0.head\nhead 0, torch", "contextualizer.0.head\nhead 0, Flax linen"]
    for ax in axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["T", "o", "␣", "b", "e", "␣"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["T", "o", "␣", "b", "e", "␣"]
    shown = [ax.get_images()[0].get_array() for ax in axes]
    np.testing.assert_allclose(shown[0], shown[1], atol=1e-5)  # the same head, torch and Flax
    assert np.abs(shown[0] - shown[2]).max() > 1e-3, "two different heads drew the same map: a weak test"
    assert all(np.allclose(np.triu(s, 1), 0) for s in shown), "a causal map attends to the future"
    np.testing.assert_allclose(shown[0].sum(axis=-1), 1, atol=1e-5)
    assert len(lines) == 2 and all("max |difference|" in line for line in lines)
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_the_command_writes_a_png_and_the_differences(tmp_path, capsys):
    path = checkpoint(tmp_path, language_model("GPTVer3(HeadVer4)"))
    out = tmp_path / "att.png"
    assert main(["attention", "--checkpoint", str(path), "--prompt", "ROMEO:", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    diff = float(printed.split("torch, flax: ")[1].split()[0])
    assert diff <= 1e-5, printed  # the float32 output bound of the parity tests
    from PIL import Image
    w, h = Image.open(out).size
    assert w > h > 150  # one head, torch beside Flax


def test_bad_attention_requests_are_one_line(tmp_path, capsys):
    path = checkpoint(tmp_path, NANOGPT)
    bigram = checkpoint(tmp_path, language_model("GPTVer1"), "bigram")

    def fails(argv, *words):
        one_line(capsys, ["attention", "--checkpoint", str(path), "--out", str(tmp_path / "a.png"), *argv], *words)

    fails(["--prompt", "ROMEO: what"], "11 characters", "block_size 8")
    fails(["--prompt", ""], "--prompt is empty")
    fails(["--prompt", "R0"], "'0'")
    fails(["--prompt", "RO", "--backends", "torch,tf"], "unknown backend 'tf'")
    fails(["--prompt", "RO", "--checkpoint", str(bigram)], "keeps no attention weights")
    fails(["--prompt", "RO", "--checkpoint", str(tmp_path / "none")], "not found")
    assert not (tmp_path / "a.png").exists()

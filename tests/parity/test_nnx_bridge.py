"""The bridge, three ways: torch <-> NNX by the rules of torch <-> linen, bit for bit there and back in float32
and float64; linen <-> NNX through the same trees and through flax.nnx.bridge (ToNNX, to_linen) with identical
outputs; checkpoints written from any of the three loading in the other two; parity.compare and the
parity_check fixture with an nnx.Module as the JAX side (the layer table and its first divergence)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import learngpt_flax
import learngpt_nnx
import learngpt_torch
from learngpt import components
from learngpt.config import Config
from learngpt_lab import checkpoints as checkpoint
from parity.bridge import WeightMismatchError, abstract_params, flax_to_torch, torch_state, torch_to_flax
from parity.check import compare
from parity.nnx import linen_path, load_nnx, nnx_params, nnx_to_torch, torch_to_nnx
from learngpt_lab.backends.nnx_backend import Seeded
from learngpt_lab.parity_table import DTYPES, build_jax, build_torch
from parity.rules import flat_tree

CFG = Config()
IDX = np.random.default_rng(0).integers(0, CFG.vocab_size, (2, CFG.block_size))


def nnx_model(name: str = "NanoGPT", seed: int = 0, cfg: Config = CFG):
    model = build_jax(name, cfg, "nnx", seed)
    model.eval()
    return model


def example(name: str):
    return IDX if components.get(name).takes_tokens else np.zeros((1, CFG.block_size, CFG.embed_size), np.float32)


def bits(a) -> bytes:
    a = np.asarray(a)
    return a.dtype.str.encode() + a.tobytes()


def test_nnx_paths_read_as_linen_paths():
    """A list index joins its attribute's name, as linen names a list attribute's submodules."""
    assert linen_path(("contextualizer", "layers", 0, "head", "heads", 3, "key", "kernel")) == (
        "contextualizer", "layers_0", "head", "heads_3", "key", "kernel")
    assert linen_path(("ffwd", "net", "layers", 2, "bias")) == ("ffwd", "net", "layers_2", "bias")


@pytest.mark.parametrize("name", list(components.REGISTRY))
def test_every_component_has_linens_parameter_tree_and_torchs_keys(name):
    """The NNX model's parameters, read by parity.nnx, are the linen model's tree (paths and shapes) and map
    onto the torch state_dict's keys and shapes."""
    torch.manual_seed(0)
    state = torch_state(components.build(learngpt_torch, name, CFG))
    template = abstract_params(components.build(learngpt_flax, name, CFG), example(name))
    params = nnx_params(nnx_model(name))
    assert {k: tuple(v.shape) for k, v in flat_tree(params).items()} == {
        k: tuple(v.shape) for k, v in flat_tree(template).items()}
    mapped = flax_to_torch(params)
    assert {k: v.shape for k, v in mapped.items()} == {k: v.shape for k, v in state.items()}


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_to_nnx_and_back_is_bit_for_bit(dtype):
    tmod = build_torch("NanoGPT", CFG, 3, dtype)
    state = torch_state(tmod)
    model = nnx_model()
    with jax.enable_x64(dtype == "float64"):
        torch_to_nnx(state, model)
        assert {str(v.dtype) for v in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param))} == {dtype}
        back = nnx_to_torch(model)
    assert sorted(back) == sorted(state)
    assert all(bits(back[k]) == bits(state[k]) for k in state)
    tmod2 = build_torch("NanoGPT", CFG, 4, dtype)
    tmod2.load_state_dict({k: torch.as_tensor(np.array(v)) for k, v in back.items()})
    assert all(bits(v) == bits(state[k]) for k, v in torch_state(tmod2).items())


@pytest.mark.parametrize("dtype", DTYPES)
def test_linen_to_nnx_and_back_is_bit_for_bit(dtype):
    """A linen params tree loads into the NNX model as it is (same paths) and reads back unchanged."""
    state = torch_state(build_torch("NanoGPT", CFG, 5, dtype))
    linen = components.build(learngpt_flax, "NanoGPT", CFG)
    model = nnx_model()
    with jax.enable_x64(dtype == "float64"):
        params = jax.tree_util.tree_map(jnp.asarray, torch_to_flax(state, abstract_params(linen, IDX)))
        load_nnx(model, params)
        back = nnx_params(model)
        want, got = flat_tree(params), flat_tree(back)
        assert sorted(got) == sorted(want)
        assert all(bits(got[k]) == bits(want[k]) for k in want)
        out_linen = np.asarray(linen.apply({"params": params}, IDX)[0])
        out_nnx = np.asarray(model(jnp.asarray(IDX))[0])
    assert out_nnx.dtype == np.dtype(dtype)
    assert np.array_equal(out_nnx, out_linen), np.abs(out_nnx - out_linen).max()


def test_a_mismatch_loads_nothing_and_names_the_key():
    model = nnx_model()
    before = {k: bits(v) for k, v in flat_tree(nnx_params(model)).items()}
    state = torch_state(build_torch("NanoGPT", CFG, 0, "float32"))
    wrong = {**state, "lm_head.weight": state["lm_head.weight"].T.copy()}
    with pytest.raises(WeightMismatchError, match=r"key 'lm_head.weight' has shape \(16, 65\).*looks transposed"):
        torch_to_nnx(wrong, model)
    missing = {k: v for k, v in state.items() if k != "ln_f.bias"}
    with pytest.raises(WeightMismatchError, match=r"missing key 'ln_f.bias'"):
        torch_to_nnx(missing, model)
    with pytest.raises(WeightMismatchError, match="NNX GPTVer4"):
        load_nnx(model, {"lm_head": {"kernel": np.zeros((3, 3), np.float32)}})
    assert {k: bits(v) for k, v in flat_tree(nnx_params(model)).items()} == before


@pytest.mark.parametrize("dtype", DTYPES)
def test_linen_wrapped_by_nnx_bridge_to_nnx_equals_the_nnx_model(dtype):
    """flax.nnx.bridge.ToNNX(linen model), given the carried weights, and learngpt_nnx's model give the same
    logits, bit for bit: the linen and NNX files are one computation."""
    state = torch_state(build_torch("NanoGPT", CFG, 1, dtype))
    with jax.enable_x64(dtype == "float64"):
        wrapped = nnx.bridge.ToNNX(components.build(learngpt_flax, "NanoGPT", CFG), rngs=nnx.Rngs(0))
        wrapped.lazy_init(jnp.asarray(IDX))
        torch_to_nnx(state, wrapped)  # its parameters read as the linen tree: the same rules apply
        model = nnx_model()
        torch_to_nnx(state, model)
        got, want = np.asarray(wrapped(jnp.asarray(IDX))[0]), np.asarray(model(jnp.asarray(IDX))[0])
    assert got.dtype == np.dtype(dtype)
    assert np.array_equal(got, want), np.abs(got - want).max()


@pytest.mark.parametrize("dtype", DTYPES)
def test_nnx_wrapped_by_nnx_bridge_to_linen_equals_the_linen_model(dtype):
    """flax.nnx.bridge.to_linen(the NNX model's factory) is a linen module whose params are NNX's state (list
    indices as integer keys); given the carried weights it gives the linen model's logits, bit for bit."""
    def factory(rngs):
        model = components.build(Seeded(learngpt_nnx, rngs), "NanoGPT", CFG)
        model.eval()
        return model

    state = torch_state(build_torch("NanoGPT", CFG, 2, dtype))
    linen = components.build(learngpt_flax, "NanoGPT", CFG)
    wrapped = nnx.bridge.to_linen(factory)
    with jax.enable_x64(dtype == "float64"):
        params = torch_to_flax(state, abstract_params(linen, IDX))
        keys = {"params": jax.random.key(0), "dropout": jax.random.key(1)}  # Dropout is built with a stream
        shapes = jax.eval_shape(lambda: wrapped.init(keys, jnp.asarray(IDX)))["params"]
        by_linen = flat_tree(params)
        nested: dict = {}
        for path in flat_tree(shapes):  # NNX's own paths, filled from the linen tree by parity.nnx's reading
            node = nested
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = jnp.asarray(by_linen[linen_path(path)])
        got = np.asarray(wrapped.apply({"params": nested}, jnp.asarray(IDX), rngs=keys)[0])
        want = np.asarray(linen.apply({"params": params}, IDX)[0])
    assert got.dtype == np.dtype(dtype)
    assert np.array_equal(got, want), np.abs(got - want).max()


@pytest.mark.parametrize("writer", ["torch", "flax", "nnx"])
def test_a_checkpoint_written_by_any_backend_loads_in_the_other_two(tmp_path, writer):
    """One safetensors checkpoint in the torch layout: written from torch, linen or NNX weights, read back into
    each of the three with every tensor bit for bit, and the same logits (float32, within the output bound)."""
    tmod = build_torch("NanoGPT", CFG, 6, "float32")
    state = torch_state(tmod)
    linen = components.build(learngpt_flax, "NanoGPT", CFG)
    params = torch_to_flax(state, abstract_params(linen, IDX))
    model = nnx_model()
    torch_to_nnx(state, model)
    written = {"torch": state, "flax": flax_to_torch(params), "nnx": nnx_to_torch(model)}[writer]
    vocab = "".join(chr(33 + i) for i in range(CFG.vocab_size))
    path = checkpoint.save(tmp_path / "ckpt.safetensors",
                           checkpoint.Checkpoint(written, CFG, vocab=vocab, backend=writer, step=1))
    loaded = checkpoint.load(path).weights
    into_torch = build_torch("NanoGPT", CFG, 9, "float32")
    into_torch.load_state_dict({k: torch.as_tensor(np.array(v)) for k, v in loaded.items()})
    into_nnx = nnx_model(seed=9)
    torch_to_nnx(loaded, into_nnx)
    into_linen = torch_to_flax(loaded, abstract_params(linen, IDX))
    for got in (torch_state(into_torch), nnx_to_torch(into_nnx), flax_to_torch(into_linen)):
        assert sorted(got) == sorted(state) and all(bits(got[k]) == bits(state[k]) for k in state)
    want = tmod(torch.as_tensor(IDX))[0].detach().numpy()
    assert np.abs(np.asarray(into_nnx(jnp.asarray(IDX))[0]) - want).max() <= 1e-5
    assert np.abs(np.asarray(linen.apply({"params": into_linen}, IDX)[0]) - want).max() <= 1e-5


def test_compare_takes_an_nnx_module_and_leaves_its_mode_alone():
    """compare runs the NNX side in eval mode on a copy: the model's dropout stays as it was (on)."""
    tmod = build_torch("GPTVer4(2xBlockVer4)", CFG, 0, "float32")
    model = build_jax("GPTVer4(2xBlockVer4)", CFG, "nnx")
    assert model.contextualizer.layers[0].drop1.deterministic is False
    report = compare(tmod, model, (IDX, IDX), output_names=("logits", "loss"))
    assert report.ok, report
    assert model.contextualizer.layers[0].drop1.deterministic is False
    assert report.torch_params == report.flax_params > 0
    assert [layer.path for layer in report.layers if layer.name == "contextualizer.1.head.proj"] == [
        "contextualizer/layers_1/head/proj"]


def test_an_nnx_default_is_named_as_the_first_divergence():
    """The porter's case: ln_f built with nnx.LayerNorm's defaults (epsilon 1e-6 and the fast variance, where
    torch's nn.LayerNorm has 1e-5 and E[(x - mean)^2]) is named at ln_f, the difference made inside it. In
    float64: at unit variance the epsilons move the output by about 5e-6, under the float32 bound."""
    tmod = build_torch("NanoGPT", CFG, 0, "float64")
    model = nnx_model()
    model.ln_f = nnx.LayerNorm(CFG.embed_size, rngs=nnx.Rngs(0))
    report = compare(tmod, model, (IDX, IDX), output_names=("logits", "loss"))
    assert not report.ok
    first = report.first_divergence
    assert first.name == "ln_f" and first.input_ok and not first.output_ok, report


def test_the_parity_check_fixture_takes_an_nnx_module(parity_check):
    tmod = build_torch("MultiHeadVer1", CFG, 0, "float64")
    x = np.random.default_rng(1).standard_normal((2, CFG.block_size, CFG.embed_size))
    report = parity_check(tmod, build_jax("MultiHeadVer1", CFG, "nnx"), x)
    assert {"heads.0.attentions", "heads.0.var"} <= {row.tensor for row in report.rows}
    assert max(row.diff for row in report.rows) <= 1e-10


def test_the_port_pages_nnx_example_passes(tmp_path):
    """docs/port.md's NNX example, run as a user runs it (pytest, the parity_check fixture of the plugin)."""
    import subprocess
    import sys
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "port.md").read_text(encoding="utf-8")
    block = text.split("<!-- nnx-example:start -->", 1)[1].split("<!-- nnx-example:end -->")[0]
    (tmp_path / "test_example.py").write_text(block.split("```python\n", 1)[1].split("```")[0])
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_learngpt_parity_takes_an_nnx_factory(tmp_path, capsys, monkeypatch):
    """`learngpt parity --torch ... --flax FILE.py:nnx_factory`: the NNX model is a JAX side like a linen one
    (the report, exit 0; a planted tanh-GELU exits 1 naming the layer after it, and the likely cause)."""
    from learngpt_lab.cli import main

    (tmp_path / "nnx_pair.py").write_text(
        "import torch\nfrom flax import nnx\n\n\n"
        "class TorchMLP(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.up, self.down = torch.nn.Linear(16, 64), torch.nn.Linear(64, 16)\n\n"
        "    def forward(self, x):\n"
        "        return self.down(torch.nn.functional.gelu(self.up(x)))\n\n\n"
        "class NNXMLP(nnx.Module):\n"
        "    def __init__(self, approximate):\n"
        "        rngs = nnx.Rngs(0)\n"
        "        self.up, self.down = nnx.Linear(16, 64, rngs=rngs), nnx.Linear(64, 16, rngs=rngs)\n"
        "        self.approximate = approximate\n\n"
        "    def __call__(self, x):\n"
        "        return self.down(nnx.gelu(self.up(x), approximate=self.approximate))\n\n\n"
        "def torch_mlp():\n    return TorchMLP()\n\n\n"
        "def nnx_mlp():\n    return NNXMLP(False)\n\n\n"
        "def nnx_mlp_tanh():\n    return NNXMLP(True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    base = ["parity", "--torch", "nnx_pair:torch_mlp", "--input", "4,16"]
    assert main(base + ["--flax", "nnx_pair:nnx_mlp", "--dtype", "both", "--deterministic"]) == 0
    out = capsys.readouterr().out
    assert "parity of nnx_pair:torch_mlp vs nnx_pair:nnx_mlp [float64]: pass" in out and "  down " in out
    assert main(base + ["--flax", "nnx_pair:nnx_mlp_tanh", "--dtype", "float64"]) == 1
    out = capsys.readouterr().out
    assert "first divergence: layer 2, down (Linear)" in out and "tanh approximation" in out

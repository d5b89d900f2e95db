"""The bridge: rule-based key mapping, round trips bit for bit, loud errors, nothing loaded partially,
and safetensors files that either backend loads."""
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import learngpt_flax
import learngpt_torch
from learngpt import components
from learngpt.config import Config
from parity.bridge import (WeightMismatchError, abstract_params, flax_to_torch, load_into_torch, torch_state,
                           torch_to_flax)
from parity.rules import DEFAULT_RULES
from parity.weights import WeightsFileError, read_metadata, read_weights, write_weights

CFG = Config()
IDX = jnp.zeros((1, CFG.block_size), dtype=jnp.int32)


def nanogpt(lib):
    return components.build(lib, "NanoGPT", CFG)


def pair():
    torch.manual_seed(0)
    tmod = nanogpt(learngpt_torch)
    fmod = nanogpt(learngpt_flax)
    return tmod, fmod, abstract_params(fmod, IDX)


def torch_key(path):
    """The torch key of a Flax path by the default rules, and whether the array is transposed between them."""
    key, transform = DEFAULT_RULES.torch_key(path)
    return key, transform.name == "transpose"


def test_rules_map_paths_to_torch_keys():
    assert torch_key(("heads_3", "key", "kernel")) == ("heads.3.key.weight", True)
    assert torch_key(("contextualizer", "layers_1", "ffwd", "net", "layers_2", "bias")) == (
        "contextualizer.1.ffwd.net.2.bias", False)
    assert torch_key(("token_embedding_table", "embedding")) == ("token_embedding_table.weight", False)
    assert torch_key(("ln_f", "scale")) == ("ln_f.weight", False)
    assert torch_key(("ln1", "gamma")) == ("ln1.gamma", False)
    with pytest.raises(WeightMismatchError, match="no rule for the Flax parameter a/mystery"):
        torch_key(("a", "mystery"))


@pytest.mark.parametrize("name", list(components.REGISTRY))
def test_every_component_maps_onto_the_torch_state_dict(name):
    torch.manual_seed(0)
    tmod = components.build(learngpt_torch, name, CFG)
    fmod = components.build(learngpt_flax, name, CFG)
    example = IDX if components.get(name).takes_tokens else jnp.zeros((1, CFG.block_size, CFG.embed_size))
    template = abstract_params(fmod, example)
    mapped = flax_to_torch({k: v for k, v in jax_zeros(template).items()})
    state = torch_state(tmod)
    assert sorted(mapped) == sorted(state)
    assert {k: v.shape for k, v in mapped.items()} == {k: v.shape for k, v in state.items()}


def jax_zeros(template):
    import jax
    return jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), template)


def test_buffers_are_not_weights():
    tmod, _, _ = pair()
    state = torch_state(tmod)
    assert not any("tril" in k for k in state)
    assert any("tril" in name for name, _ in tmod.named_buffers())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_flax_torch_round_trip_is_bit_for_bit(dtype):
    tmod, fmod, template = pair()
    tmod = tmod.to(dtype)
    state = torch_state(tmod)
    back = flax_to_torch(torch_to_flax(state, template))
    assert sorted(back) == sorted(state)
    for key in state:
        assert back[key].dtype == state[key].dtype, key
        assert np.array_equal(back[key], state[key]), key
    torch.manual_seed(1)
    other = nanogpt(learngpt_torch).to(dtype)
    load_into_torch(other, back)
    for key, value in torch_state(other).items():
        assert np.array_equal(value, state[key]), key


def test_missing_extra_and_misshaped_keys_name_the_key_and_both_shapes():
    tmod, _, template = pair()
    state = torch_state(tmod)
    missing = {k: v for k, v in state.items() if k != "lm_head.bias"}
    with pytest.raises(WeightMismatchError, match=r"missing key 'lm_head.bias' \(expected shape \(65,\)\)"):
        torch_to_flax(missing, template)
    extra = dict(state, **{"lm_head.extra": np.zeros(3)})
    with pytest.raises(WeightMismatchError, match=r"unexpected key 'lm_head.extra' \(shape \(3,\)\)"):
        torch_to_flax(extra, template)
    wrong = dict(state, **{"lm_head.weight": np.zeros((64, 16), np.float32)})
    with pytest.raises(WeightMismatchError, match=r"key 'lm_head.weight' has shape \(64, 16\), Flax model expects \(65, 16\)"):
        torch_to_flax(wrong, template)


def test_a_failed_torch_load_changes_nothing():
    tmod, _, _ = pair()
    before = torch_state(tmod)
    bad = {k: np.zeros_like(v) for k, v in before.items()}
    bad["ln_f.weight"] = np.zeros(17, np.float32)  # one bad key among good ones
    with pytest.raises(WeightMismatchError, match=r"key 'ln_f.weight' has shape \(17,\), torch GPTVer4 expects \(16,\)"):
        load_into_torch(tmod, bad)
    after = torch_state(tmod)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_safetensors_file_loads_in_both_backends(tmp_path):
    tmod, fmod, template = pair()
    path = write_weights(tmp_path / "w.safetensors", torch_state(tmod), {"component": "nanogpt"})
    weights, meta = read_weights(path)
    assert meta == {"component": "nanogpt"}
    idx = np.random.default_rng(0).integers(0, CFG.vocab_size, (2, CFG.block_size))
    torch.manual_seed(5)
    tmod2 = nanogpt(learngpt_torch).eval()
    load_into_torch(tmod2, weights)
    params = torch_to_flax(weights, template)
    t_logits = tmod2(torch.tensor(idx))[0].detach().numpy()
    f_logits = np.asarray(fmod.apply({"params": params}, idx)[0])
    assert np.max(np.abs(t_logits - f_logits)) <= 1e-5
    assert not list(tmp_path.glob(".*tmp")), "the temporary file was left behind"


def test_truncated_and_corrupt_files_are_named(tmp_path):
    tmod, _, _ = pair()
    path = write_weights(tmp_path / "w.safetensors", torch_state(tmod))
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(WeightsFileError, match="truncated"):
        read_weights(tmp_path / "cut.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(WeightsFileError, match="corrupt safetensors header"):
        read_metadata(tmp_path / "junk.safetensors")
    with pytest.raises(WeightsFileError, match="not found"):
        read_weights(tmp_path / "absent.safetensors")

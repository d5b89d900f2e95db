"""What a porter reads before and beside the numbers (issue 23 items 2-4), on small pairs written here: default
renames that keep `ln_1` and pair Flax's unnamed `Dense_0`, hints that can be pasted (tied weights, a
`rename(...)` line), the torch key -> Flax path table, layers paired by hand, and the TF32 check."""
import flax.linen as nn
import numpy as np
import pytest
import torch

from parity import DEFAULT_RULES, WeightMismatchError, compare
from parity.bridge import abstract_params, torch_state, torch_to_flax
from parity.causes import tf32


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(16)
        self.up, self.down = torch.nn.Linear(16, 64), torch.nn.Linear(64, 16)
        self.drop = torch.nn.Dropout(0.0)

    def forward(self, x):
        return self.drop(self.down(torch.relu(self.up(self.ln_1(x)))))  # (B, 16) -> (B, 64) -> (B, 16)


class UnnamedPort(nn.Module):
    """The idiomatic Flax port: `ln_1` by name, the two Dense layers unnamed (Dense_0, Dense_1)."""

    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Dense(64)(nn.LayerNorm(epsilon=1e-5, name="ln_1")(x)))  # (B, 16) -> (B, 64)
        return nn.Dropout(0.0, deterministic=True, name="dropout")(nn.Dense(16)(h))  # (B, 64) -> (B, 16)


def x():
    return np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)


def test_default_rules_keep_ln_1_and_pair_unnamed_dense_layers():
    """Before Rules.bind this pair was refused: `ln_1` read as the list entry ln.1, Dense_0 as Dense.0."""
    torch.manual_seed(0)
    report = compare(TorchBlock(), UnnamedPort(), x())
    assert report.ok, report
    assert ("up.weight", "Dense_0/kernel", "transpose") in report.mapping
    assert ("down.bias", "Dense_1/bias", "none") in report.mapping
    assert ("ln_1.weight", "ln_1/scale", "none") in report.mapping
    table = report.mapping_table()
    assert table.splitlines()[0] == "weights carried by the rules (6 tensors): torch key -> Flax path (transform)"
    assert {layer.name for layer in report.layers if layer.compared} == {"ln_1", "up", "down", ""}


def test_layers_excluded_and_paired_by_hand():
    """torch's `drop` and Flax's `dropout` have no twin by the rules; pair_layers pairs them, exclude_layers
    leaves a layer out of the table."""
    torch.manual_seed(0)
    plain = compare(TorchBlock(), UnnamedPort(), x())
    assert next(layer for layer in plain.layers if layer.name == "drop").note == "no Flax twin"
    torch.manual_seed(0)
    report = compare(TorchBlock(), UnnamedPort(), x(), pair_layers={"drop": "dropout"}, exclude_layers=[r"ln_1"])
    by_name = {layer.name: layer for layer in report.layers}
    assert by_name["drop"].compared and by_name["drop"].ok and by_name["drop"].path == "dropout"
    assert by_name["ln_1"].note == "excluded by hand" and not by_name["ln_1"].compared


class TorchTied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Embedding(11, 8)
        self.lm_head = torch.nn.Linear(8, 11, bias=False)
        self.lm_head.weight = self.wte.weight  # one tensor, two keys

    def forward(self, ids):
        return self.lm_head(self.wte(ids))


class FlaxTied(nn.Module):
    @nn.compact
    def __call__(self, ids):
        wte = nn.Embed(11, 8, name="wte")
        return wte.attend(wte(ids))


def test_a_tied_weight_is_named_with_the_rule_that_ties_it():
    ids = np.arange(6).reshape(2, 3)
    torch.manual_seed(0)
    tmod = TorchTied()
    template = abstract_params(FlaxTied(), ids)
    with pytest.raises(WeightMismatchError) as failed:
        torch_to_flax(torch_state(tmod), template)
    assert ("unexpected key 'lm_head.weight' (shape (11, 8)): it equals 'wte.weight', the same tensor under two "
            "names; declare it tied: DEFAULT_RULES.extend(tied={'lm_head.weight': 'wte.weight'})") in str(failed.value)
    rules = DEFAULT_RULES.extend(tied={"lm_head.weight": "wte.weight"})
    assert compare(tmod, FlaxTied(), ids, rules=rules).ok


class FlaxRenamedBlock(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Dense(64, name="proj_in")(nn.LayerNorm(epsilon=1e-5, name="norm_1")(x)))
        return nn.Dense(16, name="down")(h)


def test_hints_pair_keys_by_name_and_print_a_rename_line():
    """Keys are paired by name similarity first (proj_in's bias goes with up.bias, not with any (64,) tensor)
    and the hint is a rule to paste, digits generalised where both names carry the same one."""
    torch.manual_seed(0)
    template = abstract_params(FlaxRenamedBlock(), x())
    with pytest.raises(WeightMismatchError) as failed:
        torch_to_flax(torch_state(TorchBlock()), template)
    message = str(failed.value)
    assert ("missing key 'norm.1.bias' (expected shape (16,)): the unexpected key 'ln_1.bias' has that shape "
            r'(a rename rule?); try rename(r"norm_(\d+)", r"ln_\1")') in message
    assert ("missing key 'proj_in.weight' (expected shape (64, 16)): the unexpected key 'up.weight' has that "
            'shape (a rename rule?); try rename(r"proj_in", "up")') in message


def test_tf32_is_named_on_a_gpu_only(monkeypatch):
    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "high")  # as set_..._precision("high")
    assert tf32(["cpu"]) == []
    assert any("TF32 on the GPU: torch multiplies float32 matrices in TF32" in c for c in tf32(["cuda:0"]))


class TorchPositions(torch.nn.Module):
    """OPT's pattern: the torch position table receives the attention mask and makes the positions itself."""

    def __init__(self):
        super().__init__()
        self.tok, self.pos = torch.nn.Embedding(11, 8), PositionsFromMask(8, 8)

    def forward(self, ids, attention_mask):
        return self.tok(ids) + self.pos(attention_mask)  # (B, T, 8)


class PositionsFromMask(torch.nn.Embedding):
    def forward(self, attention_mask):
        return super().forward(torch.cumsum(attention_mask, dim=1) - 1)  # (B, T) -> (B, T, 8)


class FlaxPositions(nn.Module):
    @nn.compact
    def __call__(self, ids, attention_mask, positions):
        return nn.Embed(11, 8, name="tok")(ids) + nn.Embed(8, 8, name="pos")(positions)  # (B, T, 8)


def test_integer_arguments_never_make_a_layer_the_first_divergence():
    """torch's position table receives the mask, Flax's the positions: both integers, not compared, so the
    layer whose output agrees is not named (before, 'its input already differs (6.00e+00)' on OPT)."""
    ids = np.arange(8).reshape(2, 4) % 11
    mask = np.ones((2, 4), np.int64)
    torch.manual_seed(0)
    report = compare(TorchPositions(), FlaxPositions(), ids, torch_kwargs={"attention_mask": torch.as_tensor(mask)},
                     flax_kwargs={"attention_mask": mask, "positions": np.tile(np.arange(4), (2, 1))})
    assert report.ok, report
    pos = next(layer for layer in report.layers if layer.name == "pos")
    assert pos.compared and pos.input_rel is None and pos.inputs == "skipped attention_mask, inputs"

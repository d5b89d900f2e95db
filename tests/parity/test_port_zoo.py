"""parity on the models porters bring beyond transformers (issue 37): a convnet whose channels equal its
height, layers created in another order than torch registers them, BatchNorm in eval and train mode (linen and
NNX), recurrent cells and packed attention weights, a Hugging Face vision pair with BatchNorm, and training
trajectories. For each: no false alarm in float32 and float64, and each planted bug placed at its layer with
its cause.

Every case states the rule lines and the glue (compare's keywords beyond the models and inputs) its user wrote:
the rule lines are evaluated here, so the count in docs/port.md cannot drift from what ran. With
$LEARNGPT_PORT_ZOO_RECORD set to a file, each case appends its row there (tools/port_zoo.py writes
docs/results/port-zoo.json from them, which tools/docs.py renders into docs/port.md).
"""
from __future__ import annotations

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from parity import DEFAULT_RULES, compare, leaf, permute, rename  # noqa: F401 (rule lines are evaluated)

B = 2


def record(case: str, framework: str, dtype: str, mode: str, report, expected: str = "pass", rules=(), glue=(),
           layer: str | None = None, cause: str | None = None) -> None:
    """Append the case's row to $LEARNGPT_PORT_ZOO_RECORD (nothing when it is unset)."""
    path = os.environ.get("LEARNGPT_PORT_ZOO_RECORD")
    if not path:
        return
    trained = not hasattr(report, "layers")  # a training trajectory: its largest loss and parameter diff
    outs = [] if trained else [r for r in report.rows if not r.tensor.startswith(("grad[", "state["))]
    first = report.first_divergence
    largest = (max((max(r.loss_diff, r.param_diff) for r in report.rows), default=None) if trained else
               max((r.abs_diff or r.diff for r in outs), default=None))
    row = {"case": case, "framework": framework, "dtype": dtype, "mode": mode, "expected": expected,
           "ok": report.ok, "output_diff": largest, "steps": len(report.rows) if trained else None,
           "layers_compared": 0 if trained else sum(layer.compared for layer in report.layers),
           "first_divergence": None if first is None else first[1] if trained else first.label,
           "expected_layer": layer,
           "cause": next((c for c in report.causes if cause and cause in c), report.causes[0] if report.causes
                         else None),
           "rule_lines": list(rules), "glue_lines": list(glue)}
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def rules_of(lines) -> object:
    rules = DEFAULT_RULES
    for line in lines:
        rules = eval(line)  # noqa: S307 (the case's own rule line, as its user wrote it)
    return rules


def x64(dtype):
    return jax.enable_x64(dtype == "float64")


# --- the two repros ---------------------------------------------------------------------------------

class ReproConvTorch(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return self.conv(x).mean((2, 3))  # (B, 3, S, S) -> (B, 8, S, S) -> (B, 8)


class ReproConvFlax(nn.Module):
    @nn.compact
    def __call__(self, x):  # the input as torch has it, moved channels last inside
        return nn.Conv(8, (3, 3), padding=1, name="conv")(jnp.transpose(x, (0, 2, 3, 1))).mean((1, 2))


REPRO_RULES = ['DEFAULT_RULES.extend(leaf("kernel", "weight", permute(2, 3, 1, 0), under="conv"))']


@pytest.mark.parametrize("size", [7, 8, 32])
def test_repro_a_convnet_whose_channels_equal_its_height_passes(size):
    """8 channels at 8x8 and 32x32 (CIFAR's layout) failed with 'the difference is made inside this layer'."""
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((B, 3, size, size)).astype(np.float32)
    report = compare(ReproConvTorch(), ReproConvFlax(), x, rules=rules_of(REPRO_RULES))
    assert report.ok, report
    conv = next(layer for layer in report.layers if layer.name == "conv")
    assert conv.compared and conv.note == "channels last"  # derived from the carried kernel, not from the shapes
    record(f"repro 1, C = 8 at {size}x{size}", "linen", "float32", "eval", report, rules=REPRO_RULES)


def test_repro_a_kernel_with_its_window_axes_swapped_is_named_at_the_conv():
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((B, 3, 8, 8)).astype(np.float32)
    lines = ['DEFAULT_RULES.extend(leaf("kernel", "weight", permute(3, 2, 1, 0), under="conv"))']
    report = compare(ReproConvTorch(), ReproConvFlax(), x, rules=rules_of(lines))
    assert not report.ok and report.first_divergence.name == "conv"
    assert any("kernel axes at conv" in c for c in report.causes), report.causes
    record("repro 1, planted: kernel window axes swapped", "linen", "float32", "eval", report, "fail", lines,
           layer="conv", cause="kernel axes")


class ReproOrderTorch(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


class ReproOrderFlax(nn.Module):
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x):
        b, a = nn.Dense(4), nn.Dense(4)  # created in the other order: Dense_0 is b
        return b(getattr(jnp, self.activation)(a(x)) if self.activation == "tanh" else nn.relu(a(x)))


def test_repro_unnamed_layers_created_in_another_order_pass():
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    report = compare(ReproOrderTorch(), ReproOrderFlax(), x)
    assert report.ok, report
    assert ("a.weight", "Dense_1/kernel", "transpose") in report.mapping
    assert any("order of their calls" in n for n in report.notes)  # how the pairs were found is said
    record("repro 2, unnamed layers in another order", "linen", "float32", "eval", report)
    planted = compare(ReproOrderTorch(), ReproOrderFlax("relu"), x)
    first = planted.first_divergence
    assert first.name == "b" and not first.input_ok, planted
    assert any("ReLU" in c for c in planted.causes), planted.causes
    record("repro 2, planted: ReLU for tanh", "linen", "float32", "eval", planted, "fail", layer="b", cause="ReLU")


class HeadTorch(torch.nn.Module):
    """The curriculum's HeadVer4: key, query, value registered and called in that order."""

    def __init__(self, width=8, size=4):
        super().__init__()
        self.key = torch.nn.Linear(width, size, bias=False)
        self.query = torch.nn.Linear(width, size, bias=False)
        self.value = torch.nn.Linear(width, size, bias=False)

    def forward(self, x):
        k, q, v = self.key(x), self.query(x), self.value(x)
        w = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, hs) @ (B, hs, T) -> (B, T, T)
        w = w.masked_fill(torch.tril(torch.ones(x.shape[1], x.shape[1])) == 0, float("-inf"))
        return torch.softmax(w, -1) @ v  # (B, T, T) @ (B, T, hs) -> (B, T, hs)


class HeadFlax(nn.Module):
    """A learner's idiomatic head: q, k, v unnamed, created and called in that order."""
    scale: bool = True

    @nn.compact
    def __call__(self, x):
        q, k, v = (nn.Dense(4, use_bias=False)(x) for _ in range(3))
        w = q @ jnp.swapaxes(k, -2, -1) * (k.shape[-1] ** -0.5 if self.scale else 1.0)
        w = jnp.where(jnp.tril(jnp.ones((x.shape[1], x.shape[1]))) == 0, -jnp.inf, w)
        return jax.nn.softmax(w, -1) @ v


def test_unnamed_layers_called_in_another_order_are_paired_by_the_outputs_and_a_bug_is_not_hidden():
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((B, 5, 8)).astype(np.float32)
    report = compare(HeadTorch(), HeadFlax(), x)
    assert report.ok, report
    assert any(n.startswith("paired by the outputs") for n in report.notes), report.notes
    record("idiomatic HeadVer4 (q, k, v unnamed)", "linen", "float32", "eval", report)
    planted = compare(HeadTorch(), HeadFlax(scale=False), x)
    assert not planted.ok and any("could not be decided" in n for n in planted.notes), planted
    record("idiomatic HeadVer4, planted: no 1/sqrt scale", "linen", "float32", "eval", planted, "fail",
           layer="(model)")


# --- the Flax guide's CNN, with BatchNorm, in linen and NNX -------------------------------------------------

class TorchCNN(torch.nn.Module):
    def __init__(self, channels=8, size=8):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, channels, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(channels)
        self.pool = torch.nn.AvgPool2d(3, stride=2, padding=1)  # count_include_pad=True, as Flax's avg_pool
        self.conv2 = torch.nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(channels)
        self.fc = torch.nn.Linear(channels * (size // 4) ** 2, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))  # (B, 3, S, S) -> (B, C, S/2, S/2)
        x = torch.relu(self.bn2(self.conv2(x)))  # -> (B, C, S/4, S/4)
        return self.fc(x.flatten(1))  # (B, C * S/4 * S/4) -> (B, 10)


class LinenCNN(nn.Module):
    channels: int = 8
    momentum: float = 0.9  # torch's 0.1: Flax weighs the old statistics
    epsilon: float = 1e-5
    padding: object = 1
    include_pad: bool = True
    torch_flatten: bool = True
    dtype: str = "float32"

    @nn.compact
    def __call__(self, x, train: bool = False):  # x: (B, S, S, 3), channels last
        norm = dict(use_running_average=not train, momentum=self.momentum, epsilon=self.epsilon,
                    param_dtype=self.dtype)
        x = nn.Conv(self.channels, (3, 3), padding=1, name="conv1", param_dtype=self.dtype)(x)
        x = nn.relu(nn.BatchNorm(name="bn1", **norm)(x))
        x = nn.avg_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)), count_include_pad=self.include_pad)
        x = nn.Conv(self.channels, (3, 3), (2, 2), padding=self.padding, name="conv2", param_dtype=self.dtype)(x)
        x = nn.relu(nn.BatchNorm(name="bn2", **norm)(x))
        x = jnp.transpose(x, (0, 3, 1, 2)) if self.torch_flatten else x  # torch flattens (C, H, W)
        return nn.Dense(10, name="fc", param_dtype=self.dtype)(x.reshape(x.shape[0], -1))


class NnxCNN(nnx.Module):
    def __init__(self, channels=8, size=8, dtype="float32", *, rngs):
        kw = dict(param_dtype=dtype, rngs=rngs)
        self.conv1 = nnx.Conv(3, channels, (3, 3), padding=1, **kw)
        self.bn1 = nnx.BatchNorm(channels, momentum=0.9, **kw)
        self.conv2 = nnx.Conv(channels, channels, (3, 3), (2, 2), padding=1, **kw)
        self.bn2 = nnx.BatchNorm(channels, momentum=0.9, **kw)
        self.fc = nnx.Linear(channels * (size // 4) ** 2, 10, **kw)

    def __call__(self, x):  # x: (B, S, S, 3); BatchNorm follows .train() / .eval()
        x = nnx.relu(self.bn1(self.conv1(x)))
        x = nnx.avg_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
        x = nnx.relu(self.bn2(self.conv2(x)))
        return self.fc(jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1))


def cnn(channels=8, size=8, dtype="float32", framework="linen", **flax):
    torch.manual_seed(0)
    tmod = TorchCNN(channels, size)
    with torch.no_grad():  # statistics a trained model would hold, so that a missing one shows
        for bn in (tmod.bn1, tmod.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.3, 0.3)
    with x64(dtype):
        fmod = (LinenCNN(channels, dtype=dtype, **flax) if framework == "linen" else
                NnxCNN(channels, size, dtype, rngs=nnx.Rngs(0)))
    x = np.random.default_rng(1).standard_normal((B, 3, size, size)).astype(dtype)
    return tmod, fmod, x


CNN_GLUE = {"eval": ['layout=("NCHW", "NHWC")'],
            "train": ['layout=("NCHW", "NHWC")', "train=True", 'flax_kwargs={"train": True}  (linen only)']}


CNN_CASES = ([(8, 8, framework, dtype, mode) for framework in ("linen", "nnx") for dtype in ("float32", "float64")
              for mode in ("eval", "train")]  # C == H == W: every framework, dtype and mode
             + [(channels, size, framework, "float32", "eval") for channels, size in ((5, 8), (16, 16))
                for framework in ("linen", "nnx")])


@pytest.mark.parametrize("channels,size,framework,dtype,mode", CNN_CASES)
def test_the_flax_guide_cnn_passes(channels, size, framework, dtype, mode):
    """C == H == W among other sizes; the running statistics carried into batch_stats / nnx.BatchStat; in
    train mode the outputs, the gradients and the updated statistics."""
    tmod, fmod, x = cnn(channels, size, dtype, framework)
    flax_kwargs = {"train": True} if mode == "train" and framework == "linen" else {}
    report = compare(tmod, fmod, x, layout=("NCHW", "NHWC"), train=mode == "train", flax_kwargs=flax_kwargs,
                     dtype=dtype)
    assert report.ok and report.dtype == dtype, report
    compared = {layer.name for layer in report.layers if layer.compared}
    assert {"conv1", "bn1", "conv2", "bn2", "fc", ""} <= compared, report
    if mode == "train":
        states = [r for r in report.rows if r.tensor.startswith("state[")]
        assert len(states) == 4 and all(r.ok for r in states)
        assert any("biased batch variance" in n for n in report.notes)
    assert any("num_batches_tracked" in n for n in report.notes)  # dropped, and said
    record(f"Flax guide CNN, C={channels} at {size}x{size}", framework, dtype, mode, report,
           glue=CNN_GLUE[mode][:2 if framework == "nnx" else 3])


PLANTED_CNN = {  # flax field -> (value, mode, the layer it is named at, words of its cause)
    "epsilon": (1e-3, "eval", "bn1", "BatchNorm epsilon at bn1"),
    "momentum": (0.1, "train", None, "momentum convention at bn1"),
    "padding": ("SAME", "eval", "conv2", "padding at conv2"),
    "torch_flatten": (False, "eval", "fc", "flatten order before fc"),
    "include_pad": (False, "eval", "conv2", "count_include_pad at pool"),
}


@pytest.mark.parametrize("planted", sorted(PLANTED_CNN))
def test_a_planted_cnn_bug_is_named_at_its_layer_with_its_cause(planted):
    value, mode, layer, cause = PLANTED_CNN[planted]
    tmod, fmod, x = cnn(8, 8, **{planted: value})
    report = compare(tmod, fmod, x, layout=("NCHW", "NHWC"), train=mode == "train",
                     flax_kwargs={"train": True} if mode == "train" else {})
    assert not report.ok
    if layer is not None:
        assert report.first_divergence.name == layer, report
    assert any(cause in c for c in report.causes), (report.causes, report)
    record(f"Flax guide CNN, planted: {planted} = {value!r}", "linen", "float32", mode, report, "fail",
           glue=CNN_GLUE[mode], layer=layer or "state", cause=cause)


def test_statistics_that_were_not_carried_are_named():
    tmod, fmod, x = cnn(8, 8)
    template = fmod.init(jax.random.key(0), np.moveaxis(x, 1, -1))
    from parity.bridge import torch_state, torch_to_flax

    carried = torch_to_flax(torch_state(tmod), template)
    carried["batch_stats"] = template["batch_stats"]  # the statistics left at their initial 0 and 1
    report = compare(tmod, fmod, x, layout=("NCHW", "NHWC"), variables=carried)
    assert report.first_divergence.name == "bn1"
    assert any("missing statistics at bn1" in c for c in report.causes), report.causes


def test_eval_mode_on_a_module_that_updates_its_statistics_is_one_line():
    tmod, fmod, x = cnn(8, 8)
    from parity.check import ParityInputError

    with pytest.raises(ParityInputError, match=r"updates a collection in eval mode .*use_running_average"):
        compare(tmod, fmod, x, layout=("NCHW", "NHWC"), flax_kwargs={"train": True})
    tmod.bn1.p = 0.0
    drop = torch.nn.Sequential(tmod, torch.nn.Dropout(0.1))
    with pytest.raises(ParityInputError, match=r"train mode cannot be compared with dropout active \(1 \(p=0.1\)\)"):
        compare(drop, fmod, x, layout=("NCHW", "NHWC"), train=True)


# --- a Hugging Face vision pair with BatchNorm -----------------------------------------------------------------

RESNET_RULES = ['DEFAULT_RULES.extend(rename(r"layer_(\\d+)", r"\\1"))']
RESNET_GLUE = ['layout={"inputs": ("NCHW", "NHWC"), "outputs": ("NCHW", "NCHW")}']


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_hugging_face_resnet_passes_with_its_rules_and_no_glue(dtype, mode):
    """transformers 4.57.6's ResNetModel against FlaxResNetModel's module, random weights from a small config
    (nothing downloaded): one rename rule, the layouts declared, nothing else."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import FlaxResNetModel, ResNetConfig, ResNetModel

    config = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                          hidden_act="relu")
    torch.manual_seed(0)
    tmod = ResNetModel(config)
    with torch.no_grad():
        for module in tmod.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 1.5)
    with x64(dtype):
        fmod = FlaxResNetModel(config, dtype=getattr(jnp, dtype), _do_init=False).module
    x = np.random.default_rng(0).standard_normal((B, 3, 16, 16)).astype(dtype)
    glue = RESNET_GLUE + (["train=True", 'flax_kwargs={"deterministic": False}'] if mode == "train" else [])
    report = compare(tmod, fmod, x, rules=rules_of(RESNET_RULES), layout={"inputs": ("NCHW", "NHWC"),
                                                                           "outputs": ("NCHW", "NCHW")},
                     train=mode == "train", flax_kwargs={"deterministic": False} if mode == "train" else {},
                     dtype=dtype)
    assert report.ok and report.dtype == dtype, report
    assert sum(layer.compared for layer in report.layers) >= 24
    record("Hugging Face ResNet (basic, 2 stages)", "linen", dtype, mode, report, rules=RESNET_RULES, glue=glue)


# --- recurrent cells and packed attention ---------------------------------------------------------------------

VOCAB, EMBED, HIDDEN = 11, 6, 5


class TorchRNNLM(torch.nn.Module):
    def __init__(self, cell="LSTM"):
        super().__init__()
        self.emb = torch.nn.Embedding(VOCAB, EMBED)
        self.rnn = getattr(torch.nn, cell)(EMBED, HIDDEN, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, VOCAB)

    def forward(self, idx):
        return self.head(self.rnn(self.emb(idx))[0])  # (B, T) -> (B, T, E) -> (B, T, H) -> (B, T, V)


class LinenRNNLM(nn.Module):
    cell: str = "LSTM"
    dtype: str = "float32"

    @nn.compact
    def __call__(self, idx):
        x = nn.Embed(VOCAB, EMBED, name="emb", param_dtype=self.dtype)(idx)
        x = nn.RNN((nn.LSTMCell if self.cell == "LSTM" else nn.GRUCell)(HIDDEN, param_dtype=self.dtype),
                   name="rnn")(x)
        return nn.Dense(VOCAB, name="head", param_dtype=self.dtype)(x)


class NnxRNNLM(nnx.Module):
    def __init__(self, cell="LSTM", dtype="float32", *, rngs):
        kw = dict(param_dtype=dtype, rngs=rngs)
        self.emb = nnx.Embed(VOCAB, EMBED, **kw)
        self.rnn = nnx.RNN((nnx.LSTMCell if cell == "LSTM" else nnx.GRUCell)(EMBED, HIDDEN, **kw))
        self.head = nnx.Linear(HIDDEN, VOCAB, **kw)

    def __call__(self, idx):
        return self.head(self.rnn(self.emb(idx)))


def rnn_lm(cell, framework, dtype):
    torch.manual_seed(0)
    tmod = TorchRNNLM(cell)
    if cell == "GRU" and framework == "nnx":  # nnx.GRUCell holds no bias for the hidden n gate
        with torch.no_grad():
            tmod.rnn.bias_hh_l0[2 * HIDDEN:].zero_()
    with x64(dtype):
        fmod = LinenRNNLM(cell, dtype) if framework == "linen" else NnxRNNLM(cell, dtype, rngs=nnx.Rngs(0))
    return tmod, fmod, np.random.default_rng(0).integers(0, VOCAB, (B, 7))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", ["linen", "nnx"])
@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_a_recurrent_language_model_passes_by_the_packed_rules(cell, framework, dtype):
    """torch packs the gates in weight_ih/hh and carries two biases; Flax's cells hold the gates apart (NNX's
    GRU side by side) and one bias: the default rules split and sum them, and gradients come back by the
    adjoint (each summand gets the sum's gradient)."""
    tmod, fmod, idx = rnn_lm(cell, framework, dtype)
    report = compare(tmod, fmod, idx, dtype=dtype)
    assert report.ok, report
    assert not report.problems and report.torch_params == report.flax_params
    assert any(f"holds the {cell} rnn" in n for n in report.notes)
    assert {r.tensor for r in report.rows} >= {f"grad[rnn.{k}_l0]" for k in ("weight_ih", "weight_hh", "bias_ih",
                                                                               "bias_hh")}
    record(f"{cell} language model", framework, dtype, "eval", report)


def test_an_lstm_port_holding_one_bias_is_named():
    """google/flax#3746: a port that carries bias_hh alone into the cell."""
    tmod, fmod, idx = rnn_lm("LSTM", "linen", "float32")
    from parity.bridge import abstract_variables, torch_state, torch_to_flax

    state = torch_state(tmod)
    state_one = dict(state, **{"rnn.bias_ih_l0": np.zeros_like(state["rnn.bias_ih_l0"])})
    variables = torch_to_flax(state_one, abstract_variables(fmod, idx))
    report = compare(tmod, fmod, idx, variables=variables)
    assert report.first_divergence.name == "rnn"
    assert any("one bias where torch adds two at rnn" in c for c in report.causes), report.causes
    record("LSTM language model, planted: bias_ih not carried", "linen", "float32", "eval", report, "fail",
           glue=["variables=(bias_hh alone)"], layer="rnn", cause="one bias")


E, HEADS = 8, 2


class TorchAttention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(E, HEADS, batch_first=True)
        self.out = torch.nn.Linear(E, E)

    def forward(self, x):
        return self.out(self.attn(x, x, x, need_weights=False)[0])


def _unscaled(query, key, value, **kwargs):
    return nn.dot_product_attention(query * query.shape[-1] ** 0.5, key, value, **kwargs)


class LinenAttention(nn.Module):
    scaled: bool = True
    dtype: str = "float32"

    @nn.compact
    def __call__(self, x):
        attention_fn = nn.dot_product_attention if self.scaled else _unscaled
        attn = nn.MultiHeadDotProductAttention(HEADS, name="attn", param_dtype=self.dtype, attention_fn=attention_fn)
        return nn.Dense(E, name="out", param_dtype=self.dtype)(attn(x))


class NnxAttention(nnx.Module):
    def __init__(self, dtype="float32", *, rngs):
        self.attn = nnx.MultiHeadAttention(HEADS, E, decode=False, dtype=dtype, param_dtype=dtype, rngs=rngs)
        self.out = nnx.Linear(E, E, param_dtype=dtype, rngs=rngs)

    def __call__(self, x):  # sow_weights: NNX's attention then computes in the arrays' dtype (float64 too)
        return self.out(self.attn(x, sow_weights=True))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", ["linen", "nnx"])
def test_multihead_attention_with_packed_projections_passes(framework, dtype):
    torch.manual_seed(0)
    with x64(dtype):
        fmod = LinenAttention(dtype=dtype) if framework == "linen" else NnxAttention(dtype, rngs=nnx.Rngs(0))
    x = np.random.default_rng(0).standard_normal((B, 5, E))
    report = compare(TorchAttention(), fmod, x, dtype=dtype)
    assert report.ok, report
    assert ("attn.in_proj_weight[8:16]", "attn/key/kernel", "reshape+transpose") in report.mapping
    record("nn.MultiheadAttention block", framework, dtype, "eval", report)


def test_an_unscaled_attention_is_named():
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((B, 5, E)).astype(np.float32)
    report = compare(TorchAttention(), LinenAttention(scaled=False), x)
    assert report.first_divergence.name == "attn"
    assert any("the attention scale at attn" in c and "no scale" in c for c in report.causes), report.causes
    record("nn.MultiheadAttention block, planted: no 1/sqrt scale", "linen", "float32", "eval", report, "fail",
           layer="attn", cause="attention scale")


def test_nnx_attention_in_float64_without_its_float64_path_is_named():
    """jax.nn.dot_product_attention's XLA path computes in float32: NNX's attention calls it unless weights are
    sown, and in float64 the tool names that instead of blaming the weights."""
    torch.manual_seed(0)

    class Fast(NnxAttention):
        def __call__(self, x):
            return self.out(self.attn(x))

    with x64("float64"):
        fmod = Fast("float64", rngs=nnx.Rngs(0))
    report = compare(TorchAttention(), fmod, np.random.default_rng(0).standard_normal((B, 5, E)), dtype="float64")
    assert report.first_divergence.name == "attn"
    assert any("float32 arithmetic inside a float64 run at attn" in c for c in report.causes), report.causes


# --- a scanned stack (MaxText-style) against torch's ModuleList -------------------------------------------------

WIDTH, DEPTH = 8, 3


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = torch.nn.LayerNorm(WIDTH)
        self.fc = torch.nn.Linear(WIDTH, WIDTH)

    def forward(self, x):
        return x + self.fc(self.ln(x))


class TorchStack(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList(TorchBlock() for _ in range(DEPTH))
        self.head = torch.nn.Linear(WIDTH, 4)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class ScanBody(nn.Module):
    epsilon: float = 1e-5
    dtype: str = "float32"

    @nn.compact
    def __call__(self, x, _):
        h = nn.LayerNorm(epsilon=self.epsilon, name="ln", param_dtype=self.dtype)(x)
        return x + nn.Dense(WIDTH, name="fc", param_dtype=self.dtype)(h), None


class ScannedStack(nn.Module):
    epsilon: float = 1e-5
    dtype: str = "float32"

    @nn.compact
    def __call__(self, x):
        stack = nn.scan(ScanBody, variable_axes={"params": 0}, split_rngs={"params": True}, length=DEPTH)
        x, _ = stack(self.epsilon, self.dtype, name="blocks")(x, None)  # params (DEPTH, ...) under blocks
        return nn.Dense(4, name="head", param_dtype=self.dtype)(x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_scanned_stack_is_compared_layer_by_layer(dtype):
    """The stacked params are torch's blocks.0 .. blocks.2 sliced, and each layer of the scan (and each call
    inside it) is the twin of torch's blocks.i."""
    torch.manual_seed(0)
    with x64(dtype):
        fmod = ScannedStack(dtype=dtype)
    x = np.random.default_rng(0).standard_normal((B, 5, WIDTH))
    report = compare(TorchStack(), fmod, x, dtype=dtype)
    assert report.ok, report
    assert ("blocks.1.fc.weight", "blocks/fc/kernel[1]", "transpose") in report.mapping
    assert {f"blocks.{i}{s}" for i in range(DEPTH) for s in ("", ".ln", ".fc")} <= {
        layer.name for layer in report.layers if layer.compared}
    record("scanned-stack transformer (nn.scan over 3 blocks)", "linen", dtype, "eval", report)


def test_a_planted_bug_in_one_layer_of_a_stack_is_named_at_that_layer():
    torch.manual_seed(0)
    tmod, fmod = TorchStack(), ScannedStack()
    x = np.random.default_rng(0).standard_normal((B, 5, WIDTH)).astype(np.float32)
    from parity.bridge import abstract_variables, torch_state, torch_to_flax

    variables = torch_to_flax(torch_state(tmod), abstract_variables(fmod, x))
    variables["params"]["blocks"]["fc"]["kernel"][1] = variables["params"]["blocks"]["fc"]["kernel"][1].T
    report = compare(tmod, fmod, x, variables=variables)
    assert report.first_divergence.name == "blocks.1.fc", report
    assert any("transposed square kernel at blocks.1.fc" in c for c in report.causes), report.causes
    record("scanned stack, planted: layer 1's kernel transposed", "linen", "float32", "eval", report, "fail",
           glue=["variables=(layer 1 altered)"], layer="blocks.1.fc", cause="transposed square kernel")
    eps = compare(tmod, ScannedStack(epsilon=1e-6), x)
    assert eps.first_divergence.name == "blocks.0.ln" and any("LayerNorm epsilon at blocks.0.ln" in c
                                                                for c in eps.causes), eps


# --- training trajectories for any pair -------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["idiomatic HeadVer4", "nn.MultiheadAttention block"])
def test_twenty_adamw_steps_agree_in_float64(model):
    """torch.optim.AdamW's defaults on both sides (parity.train's 'adamw' recipe), the same batches; the
    unnamed q, k, v paired as compare pairs them (by the outputs)."""
    rng = np.random.default_rng(3)
    torch.manual_seed(0)
    tmod, fmod = (HeadTorch(), HeadFlax()) if model == "idiomatic HeadVer4" else (TorchAttention(), LinenAttention())
    width = 8
    batches = [(rng.standard_normal((B, 5, width)), rng.standard_normal((B, 5, 4 if model != "nn.MultiheadAttention "
                                                                          "block" else width))) for _ in range(4)]
    report = compare(tmod, fmod, batches, train_steps=20, dtype="float64", loss="mse")
    assert report.ok, report
    record(f"{model}, 20 AdamW steps", "linen", "float64", "train", report, glue=["train_steps=20", "loss='mse'"])


def test_a_trajectory_through_summed_biases_is_refused_in_one_line():
    """torch's two LSTM biases are one Flax bias: AdamW steps each torch bias, so the sum moves twice as far."""
    tmod, fmod, _ = rnn_lm("LSTM", "linen", "float64")
    from parity.check import ParityInputError

    idx = np.random.default_rng(0).integers(0, VOCAB, (B, 7))
    with pytest.raises(ParityInputError, match=r"cannot agree here: the rules sum torch tensors .*rnn.bias_"):
        compare(tmod, fmod, [(idx, idx)], train_steps=5, dtype="float64")

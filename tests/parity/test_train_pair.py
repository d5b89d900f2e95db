"""parity.train.compare_training on pairs written here: a 2-layer MLP with LayerNorm and a one-block causal
transformer (embedding, attention, MLP, head), each in torch, linen and NNX. A correct pair holds 20 AdamW steps
within BOUNDS (float64 1e-9, float32 1e-5: parity/train.py states why) at every step, on the loss and every
parameter; each planted optimizer difference is found at step 1 with its named cause, decided by training torch
again with that difference; every user mistake is one ParityInputError line.
"""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from flax import nnx

from parity.check import ParityInputError
from parity.train import BOUNDS, compare_training

D, H, O = 8, 16, 5  # the MLP: inputs, hidden, classes
V, C, T = 11, 16, 6  # the block: vocabulary, width, sequence length


class TorchMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(D, H)
        self.ln = torch.nn.LayerNorm(H)  # eps 1e-5
        self.fc2 = torch.nn.Linear(H, O)

    def forward(self, x):
        return self.fc2(torch.tanh(self.ln(self.fc1(x))))  # (B, D) -> (B, H) -> (B, O)


class LinenMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.LayerNorm(epsilon=1e-5, name="ln")(nn.Dense(H, name="fc1")(x))  # (B, D) -> (B, H)
        return nn.Dense(O, name="fc2")(jnp.tanh(x))  # (B, H) -> (B, O)


class NnxMLP(nnx.Module):
    def __init__(self, rngs):
        self.fc1 = nnx.Linear(D, H, rngs=rngs)
        self.ln = nnx.LayerNorm(H, epsilon=1e-5, rngs=rngs)
        self.fc2 = nnx.Linear(H, O, rngs=rngs)

    def __call__(self, x):
        return self.fc2(jnp.tanh(self.ln(self.fc1(x))))  # (B, D) -> (B, H) -> (B, O)


class TorchBlock(torch.nn.Module):
    """Token and position embeddings, one pre-norm block (causal single-head attention, GELU MLP), a head."""

    def __init__(self):
        super().__init__()
        self.tok, self.pos = torch.nn.Embedding(V, C), torch.nn.Embedding(T, C)
        self.ln1, self.ln2, self.ln_f = torch.nn.LayerNorm(C), torch.nn.LayerNorm(C), torch.nn.LayerNorm(C)
        self.query, self.key, self.value = (torch.nn.Linear(C, C, bias=False) for _ in range(3))
        self.proj, self.up, self.down = torch.nn.Linear(C, C), torch.nn.Linear(C, 4 * C), torch.nn.Linear(4 * C, C)
        self.head = torch.nn.Linear(C, V)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t))  # (B, T, C)
        h = self.ln1(x)
        q, k, v = self.query(h), self.key(h), self.value(h)  # (B, T, C) each
        wei = q @ k.transpose(-2, -1) * C ** -0.5  # (B, T, C) @ (B, C, T) -> (B, T, T)
        wei = wei.masked_fill(torch.tril(torch.ones(t, t, dtype=torch.bool)).logical_not(), float("-inf"))
        x = x + self.proj(torch.softmax(wei, -1) @ v)  # (B, T, T) @ (B, T, C) -> (B, T, C)
        x = x + self.down(torch.nn.functional.gelu(self.up(self.ln2(x))))  # (B, T, 4C) -> (B, T, C)
        return self.head(self.ln_f(x))  # (B, T, V)


def _block(m, idx):
    """The block's arithmetic on either Flax API's submodules (the same names as torch's)."""
    t = idx.shape[1]
    x = m.tok(idx) + m.pos(jnp.arange(t))  # (B, T, C)
    h = m.ln1(x)
    q, k, v = m.query(h), m.key(h), m.value(h)  # (B, T, C) each
    wei = q @ jnp.swapaxes(k, -2, -1) * C ** -0.5  # (B, T, C) @ (B, C, T) -> (B, T, T)
    wei = jnp.where(jnp.tril(jnp.ones((t, t), bool)), wei, -jnp.inf)
    x = x + m.proj(jax.nn.softmax(wei, -1) @ v)  # (B, T, T) @ (B, T, C) -> (B, T, C)
    x = x + m.down(jax.nn.gelu(m.up(m.ln2(x)), approximate=False))  # (B, T, 4C) -> (B, T, C)
    return m.head(m.ln_f(x))  # (B, T, V)


class LinenBlock(nn.Module):
    def setup(self):
        self.tok, self.pos = nn.Embed(V, C), nn.Embed(T, C)
        self.ln1, self.ln2, self.ln_f = (nn.LayerNorm(epsilon=1e-5) for _ in range(3))
        self.query, self.key, self.value = (nn.Dense(C, use_bias=False) for _ in range(3))
        self.proj, self.up, self.down, self.head = nn.Dense(C), nn.Dense(4 * C), nn.Dense(C), nn.Dense(V)

    def __call__(self, idx):
        return _block(self, idx)


class NnxBlock(nnx.Module):
    def __init__(self, rngs, dtype=jnp.float32):
        # nnx.Embed computes in its dtype, param_dtype (float32) unless given: in float64 it is stated
        self.tok, self.pos = nnx.Embed(V, C, dtype=dtype, rngs=rngs), nnx.Embed(T, C, dtype=dtype, rngs=rngs)
        self.ln1, self.ln2, self.ln_f = (nnx.LayerNorm(C, epsilon=1e-5, rngs=rngs) for _ in range(3))
        self.query, self.key, self.value = (nnx.Linear(C, C, use_bias=False, rngs=rngs) for _ in range(3))
        self.proj, self.up = nnx.Linear(C, C, rngs=rngs), nnx.Linear(C, 4 * C, rngs=rngs)
        self.down, self.head = nnx.Linear(4 * C, C, rngs=rngs), nnx.Linear(C, V, rngs=rngs)

    def __call__(self, idx):
        return _block(self, idx)


def mlp_batches(n=4, b=6):
    r = np.random.default_rng(0)
    return [(r.standard_normal((b, D)).astype(np.float32), r.integers(0, O, (b,))) for _ in range(n)]


def block_batch(step):
    """A callable batch stream: step -> (tokens (2, T), next tokens (2, T))."""
    r = np.random.default_rng(step)
    idx = r.integers(0, V, (2, T + 1))
    return idx[:, :-1], idx[:, 1:]


PAIRS = {  # torch class, the Flax module of each API for a dtype, the batches
    "mlp": (TorchMLP, {"linen": lambda dtype: LinenMLP(), "nnx": lambda dtype: NnxMLP(nnx.Rngs(0))}, mlp_batches),
    # the NNX block built abstractly (nnx.eval_shape): torch's weights replace every initial value, and its
    # random initialisers are not compiled for nothing
    "block": (TorchBlock, {"linen": lambda dtype: LinenBlock(),
                           "nnx": lambda dtype: nnx.eval_shape(lambda: NnxBlock(nnx.Rngs(0), dtype))},
              lambda: block_batch),
}


def pair(model, api, dtype="float64"):
    torch_cls, flax, batches = PAIRS[model]
    torch.manual_seed(0)
    return torch_cls(), flax[api](jnp.dtype(dtype)), batches()


@pytest.mark.parametrize("api", ["linen", "nnx"])
@pytest.mark.parametrize("model", ["mlp", "block"])
def test_a_correct_pair_trains_the_same_20_adamw_steps(model, api):
    t, _, batches = pair(model, api)
    before = {k: v.clone() for k, v in t.state_dict().items()}
    for dtype in ("float64", "float32"):
        f = PAIRS[model][1][api](jnp.dtype(dtype))
        report = compare_training(t, f, batches, steps=20, dtype=dtype)
        print(report)
        assert report.ok, report
        assert report.bound == BOUNDS[dtype] and len(report.rows) == 20
        assert report.rows[-1].torch_loss < report.rows[0].torch_loss  # it trained
        assert all(math.isfinite(r.loss_diff) and r.param_diff <= report.bound for r in report.rows)
    assert all(torch.equal(before[k], v) for k, v in t.state_dict().items())  # trained on copies


def _planted(flax_optimizer, torch_optimizer=None, dtype="float64"):
    t, f, batches = pair("mlp", "linen", dtype)
    torch_optimizer = torch_optimizer or (lambda p: torch.optim.AdamW(p, lr=1e-3))  # torch's defaults
    calls = []

    def stream(step):  # a batch stream with state: asked once per step, the replays that name a cause included
        calls.append(step)
        return batches[step % len(batches)]

    report = compare_training(t, f, stream, steps=20, dtype=dtype, optimizer=(torch_optimizer, flax_optimizer))
    print(report)
    assert not report.ok and calls == list(range(20))
    return report


@pytest.mark.parametrize("dtype, steps", [("float64", (1,)), ("float32", (1, 2))])
def test_optax_adamw_default_weight_decay_is_found_and_named(dtype, steps):
    """optax.adamw decays by 1e-4, torch's AdamW by 1e-2: lr * 0.0099 * |w| a step, the weight 1 of ln's scale
    moved 9.9e-6 by step 1 (far above float64's bound, at float32's 1e-5 give or take roundoff), 2e-5 by step 2."""
    report = _planted(optax.adamw(1e-3), dtype=dtype)  # weight_decay 1e-4 against torch's 1e-2
    found, key, diff = report.first_divergence
    assert found in steps and key == "ln.weight" and diff > report.bound  # decay moves the largest weights most
    assert len(report.causes) == 1 and report.causes[0].startswith("weight decay: the Flax parameters are AdamW's "
                                                                    "with weight_decay=0.0001")


def test_a_decay_mask_excluding_biases_is_found_at_step_1_and_named():
    mask = lambda p: jax.tree_util.tree_map(lambda x: x.ndim > 1, p)  # noqa: E731
    report = _planted(optax.adamw(1e-3, weight_decay=1e-2, mask=mask))
    step, key, _ = report.first_divergence
    assert step == 1 and key in ("fc1.bias", "ln.weight", "ln.bias", "fc2.bias")
    assert len(report.causes) == 1 and report.causes[0].startswith("weight decay on biases and norm parameters")


def test_a_decay_mask_on_the_torch_side_is_named_the_other_way():
    def torch_masked(params):
        params = list(params)
        return torch.optim.AdamW([{"params": [p for p in params if p.ndim > 1]},
                                  {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}], lr=1e-3)
    report = _planted(optax.adamw(1e-3, weight_decay=1e-2), torch_masked)
    assert report.first_divergence[0] == 1
    assert len(report.causes) == 1 and report.causes[0].startswith("weight decay on every parameter")


def test_epsilon_inside_the_square_root_is_found_at_step_1_and_named():
    report = _planted(optax.adamw(1e-3, eps=0.0, eps_root=1e-8, weight_decay=1e-2))
    assert report.first_divergence[0] == 1
    assert len(report.causes) == 1 and report.causes[0].startswith("epsilon inside the square root")


def test_a_forward_difference_is_not_blamed_on_the_optimizer():
    """LayerNorm epsilon 1e-6 (Flax's default) on the Flax side: the loss already differs at step 1."""
    class Eps(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.LayerNorm(epsilon=1e-6, name="ln")(nn.Dense(H, name="fc1")(x))
            return nn.Dense(O, name="fc2")(jnp.tanh(x))
    torch.manual_seed(0)
    report = compare_training(TorchMLP(), Eps(), mlp_batches(), steps=3, dtype="float64")
    assert report.first_divergence[:2] == (1, "loss")
    assert report.causes[0].startswith("the loss differs at step 1, computed from the same weights on both sides")


class Dropping(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(D, O)
        self.drop = torch.nn.Dropout(0.1)

    def forward(self, x):
        return self.drop(self.fc(x))


@pytest.mark.parametrize("call, message", [
    (lambda t, f, b: compare_training(f, t, b), "the modules are swapped: the torch module comes first"),
    (lambda t, f, b: compare_training(TorchMLP, f, b), "the first module is the class TorchMLP; expected a "
                                                       "torch.nn.Module instance (call the class to build one)"),
    (lambda t, f, b: compare_training(t, None, b), "the second module is a NoneType; expected a flax.linen.Module"),
    (lambda t, f, b: compare_training(t, "f", b), "the second module is a str; expected a flax.linen.Module or "
                                                  "flax.nnx.Module instance"),
    (lambda t, f, b: compare_training(t, f, b, optimizer="adam_w"), "unknown optimizer 'adam_w'; expected one of"),
    (lambda t, f, b: compare_training(t, f, b, optimizer=(1, 2)), "optimizer is a tuple; expected one of"),
    (lambda t, f, b: compare_training(t, f, b, steps=0), "steps=0; expected an integer >= 1"),
    (lambda t, f, b: compare_training(t, f, b, loss="hinge"), "unknown loss 'hinge'"),
    (lambda t, f, b: compare_training(t, f, b, dtype="float16"), "dtype='float16'; expected one of"),
    (lambda t, f, b: compare_training(t, f, b, rules="x"), "rules is a str; expected parity.rules.Rules"),
    (lambda t, f, b: compare_training(t, f, []), "batches is empty"),
    (lambda t, f, b: compare_training(t, f, b[0]), "batches is one (inputs, targets) pair"),
    (lambda t, f, b: compare_training(t, f, [b[0][0]]), "batch for step 0 is a ndarray; expected a pair"),
    (lambda t, f, b: compare_training(t, f, [(b[0][0][:, :3], b[0][1])]),
     "step 0: the torch module cannot run the batch (inputs (6, 3), targets (6,)): RuntimeError"),
    (lambda t, f, b: compare_training(Dropping(), f, b), "torch's drop (Dropout, p=0.1) is dropout: train mode with "
                                                         "dropout cannot be compared (the masks differ)"),
])
def test_a_mistake_is_one_line(call, message):
    t, f, batches = pair("mlp", "linen")
    with pytest.raises(ParityInputError) as refused:
        call(t, f, batches)
    text = str(refused.value)
    assert message in text and "\n" not in text, text

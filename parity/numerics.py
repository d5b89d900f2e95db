"""The numerical comparison: a component built in torch, its weights carried to Flax, both run on one input,
every output, gradient and intermediate compared against its bound.

Bounds (the product): outputs max |diff| <= 1e-5 in float32 and <= 1e-10 in float64; gradients of a scalar
loss with respect to every parameter and the input <= 1e-10 (absolute) in float64 and <= 1e-4 relative in
float32, relative meaning max |diff| / max |torch gradient| for that tensor.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import torch

import learngpt_flax
import learngpt_torch
from learngpt import components
from learngpt.config import Config
from parity.bridge import abstract_params, flat_tree, flax_to_torch, torch_module_path, torch_state, torch_to_flax

OUTPUT_BOUND = {"float32": 1e-5, "float64": 1e-10}
GRAD_BOUND = {"float32": 1e-4, "float64": 1e-10}  # float32 relative, float64 absolute
GRAD_RELATIVE = {"float32": True, "float64": False}
DTYPES = ("float32", "float64")


def max_abs_diff(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    both_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    return float(np.max(np.where(both_inf, 0.0, np.abs(a - b))))


@dataclass
class Row:
    """One compared tensor."""
    component: str
    dtype: str
    tensor: str
    diff: float  # max |diff|, divided by max |reference| when relative
    bound: float
    relative: bool = False

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.diff)) and self.diff <= self.bound

    def message(self) -> str:
        kind = "relative" if self.relative else "abs"
        return (f"{self.component} [{self.dtype}] {self.tensor}: max {kind} diff {self.diff:.3e} "
                f"{'<=' if self.ok else 'exceeds'} bound {self.bound:.0e}")


@dataclass
class Report:
    """Every row of one component's comparison, plus parameter counts."""
    component: str
    dtype: str
    rows: list[Row] = field(default_factory=list)
    torch_params: int = 0
    flax_params: int = 0

    def add(self, tensor: str, got, want, bound: float, relative: bool = False) -> None:
        diff = max_abs_diff(got, want)
        if relative:
            scale = float(np.max(np.abs(np.asarray(want, dtype=np.float64)))) if np.size(want) else 0.0
            diff = diff / scale if scale > 0 else diff
        self.rows.append(Row(self.component, self.dtype, tensor, diff, bound, relative))

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and self.torch_params == self.flax_params

    def failures(self) -> list[str]:
        out = [r.message() for r in self.rows if not r.ok]
        if self.torch_params != self.flax_params:
            out.append(f"{self.component}: parameter counts differ, torch {self.torch_params} vs flax {self.flax_params}")
        return out


def make_inputs(name: str, cfg: Config, batch: int, seq: int, seed: int, dtype: str):
    """(model input, targets or None) as numpy arrays: token ids for a GPT, standard normal (B, T, C) otherwise."""
    rng = np.random.default_rng(seed)
    if components.get(name).takes_tokens:
        return rng.integers(0, cfg.vocab_size, size=(batch, seq)), rng.integers(0, cfg.vocab_size, size=(batch, seq))
    return rng.standard_normal((batch, seq, cfg.embed_size)).astype(dtype), None


def loss_weights(shape, seed: int, dtype: str) -> np.ndarray:
    """Fixed standard-normal weights: the scalar loss sum(output * w) weighs every output element differently."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def build_torch(name: str, cfg: Config, seed: int, dtype: str) -> torch.nn.Module:
    torch.manual_seed(seed)
    module = components.build(learngpt_torch, name, cfg).eval()
    return module.double() if dtype == "float64" else module


def component_report(name: str, cfg: Config | None = None, dtype: str = "float32", seed: int = 0,
                     batch: int = 4, seq: int | None = None) -> Report:
    """Torch module built and initialised natively, its weights carried to Flax; outputs and gradients compared."""
    cfg = cfg or Config()
    seq = cfg.block_size if seq is None else seq
    report = Report(name, dtype)
    tmod = build_torch(name, cfg, seed, dtype)
    fmod = components.build(learngpt_flax, name, cfg)
    x, targets = make_inputs(name, cfg, batch, seq, seed + 1, dtype)
    tokens = components.get(name).takes_tokens

    # torch: forward, then backward of a scalar loss that weighs every output element differently
    tx = torch.tensor(x) if tokens else torch.tensor(x, requires_grad=True)
    if tokens:
        t_logits, t_loss = tmod(tx, torch.tensor(targets))
        w = loss_weights(tuple(t_logits.shape), seed + 2, dtype)
        t_scalar = t_loss + (t_logits * torch.tensor(w)).sum()
        t_out = {"logits": t_logits, "loss": t_loss}
    else:
        t_out = {"output": tmod(tx)}
        w = loss_weights(tuple(t_out["output"].shape), seed + 2, dtype)
        t_scalar = (t_out["output"] * torch.tensor(w)).sum()
    t_scalar.backward()
    t_grads = {k: p.grad.numpy() for k, p in tmod.named_parameters()}
    if not tokens:
        t_grads["input"] = tx.grad.numpy()
    report.torch_params = sum(p.numel() for p in tmod.parameters())

    with jax.enable_x64(dtype == "float64"):
        jx = jnp.asarray(x)
        params = torch_to_flax(torch_state(tmod), abstract_params(fmod, jx))
        params = jax.tree_util.tree_map(jnp.asarray, params)
        report.flax_params = sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(params))

        def forward(p, inp):
            if tokens:
                (logits, loss), state = fmod.apply({"params": p}, inp, jnp.asarray(targets), mutable=["intermediates"])
                return {"logits": logits, "loss": loss}, state
            out, state = fmod.apply({"params": p}, inp, mutable=["intermediates"])
            return {"output": out}, state

        def scalar(p, inp):
            out, state = forward(p, inp)
            if tokens:
                return out["loss"] + (out["logits"] * jnp.asarray(w)).sum(), (out, state)
            return (out["output"] * jnp.asarray(w)).sum(), (out, state)

        # one pass gives the outputs, the intermediates and the gradients (op by op: at these sizes
        # dispatch is cheaper than compiling a program per component)
        argnums = 0 if tokens else (0, 1)
        (_, (f_out, state)), grads = jax.value_and_grad(scalar, argnums=argnums, has_aux=True)(params, jx)
        if tokens:
            f_param_grads, f_grads = grads, {}
        else:
            f_param_grads, f_grads = grads[0], {"input": np.asarray(grads[1])}
        f_grads.update(flax_to_torch(f_param_grads))
        f_out = {k: np.asarray(v) for k, v in f_out.items()}
        inter = state.get("intermediates", {})

    for key, value in t_out.items():
        report.add(key, f_out[key], value.detach().numpy(), OUTPUT_BOUND[dtype])
    for key in sorted(set(t_grads) | set(f_grads)):
        if key not in t_grads or key not in f_grads:
            raise AssertionError(f"{name}: gradient {key!r} exists in only one backend")
        report.add(f"grad[{key}]", f_grads[key], t_grads[key], GRAD_BOUND[dtype], GRAD_RELATIVE[dtype])
    # every intermediate a Flax module sowed, against the attribute of the same name on its torch twin
    for path, values in flat_tree(inter).items():
        module_name = torch_module_path(path[:-1])
        twin = tmod.get_submodule(module_name) if module_name else tmod
        label = f"{module_name}.{path[-1]}" if module_name else path[-1]
        report.add(label, values[0], getattr(twin, path[-1]).detach().numpy(), OUTPUT_BOUND[dtype])
    return report

"""The curriculum's own parity check: a registry component (learngpt.components) built and initialised in
torch, its weights carried to Flax (linen or NNX) by the bridge, both run on one input and compared by the one
engine, parity.check.compare (outputs, gradients of every parameter and the input, sown intermediates, every
layer); and linen against NNX, the same torch weights carried to both (jax_pair_report).

Bounds (the product): outputs max |diff| <= 1e-5 in float32 and <= 1e-10 in float64; gradients of a scalar
loss with respect to every parameter and the input <= 1e-10 (absolute) in float64 and <= 1e-4 relative in
float32, relative meaning max |diff| / max |torch gradient| for that tensor.
"""
from __future__ import annotations

import numpy as np
import torch

import learngpt_torch
from learngpt import components
from learngpt.config import Config
from learngpt_lab import backends
from parity.bridge import abstract_params, flax_to_torch, torch_state, torch_to_flax
from parity.check import (DTYPES, GRAD_BOUND, GRAD_FLOOR_EPS, GRAD_RELATIVE, OUTPUT_BOUND, Layer, Report, Row,
                          _finite_scale, _leaves, compare, max_abs_diff)
from parity.nnx import is_nnx, nnx_apply

__all__ = ["DTYPES", "GRAD_BOUND", "GRAD_RELATIVE", "JAX_SIDES", "OUTPUT_BOUND", "PAIRS", "Layer", "Report", "Row",
           "build_jax", "build_torch", "component_report", "components_table", "jax_pair_report", "loss_weights",
           "make_inputs", "max_abs_diff"]

JAX_SIDES = backends.PORTS  # linen and NNX: each compared with torch by the same engine
LINEN_NNX = ("flax", "nnx")  # the pair jax_pair_report compares: linen the reference, NNX against it
PAIRS = tuple((backends.REFERENCE, side) for side in JAX_SIDES) + (LINEN_NNX,)  # the table's pairs, reference first
LABELS = {name: entry.short for name, entry in backends.BACKENDS.items()}  # name -> "linen"


def make_inputs(name: str, cfg: Config, batch: int, seq: int, seed: int, dtype: str):
    """(model input, targets or None) as numpy arrays: token ids for a GPT, standard normal (B, T, C) otherwise."""
    rng = np.random.default_rng(seed)
    if components.get(name).takes_tokens:
        return rng.integers(0, cfg.vocab_size, size=(batch, seq)), rng.integers(0, cfg.vocab_size, size=(batch, seq))
    return rng.standard_normal((batch, seq, cfg.embed_size)).astype(dtype), None


def loss_weights(shape, seed: int, dtype: str) -> np.ndarray:
    """Fixed standard-normal weights: the scalar loss sum(output * w) weighs every output element differently
    (compare draws its weights the same way from its seed)."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def build_torch(name: str, cfg: Config, seed: int, dtype: str) -> torch.nn.Module:
    torch.manual_seed(seed)
    module = components.build(learngpt_torch, name, cfg).eval()
    return module.double() if dtype == "float64" else module


def build_jax(name: str, cfg: Config, jax_side: str = "flax", seed: int = 0):
    """The component in linen ("flax", a description: no parameters until init) or NNX ("nnx", built with
    parameters drawn from nnx.Rngs(seed), dropout on until eval())."""
    if jax_side not in JAX_SIDES:
        raise ValueError(f"unknown JAX side {jax_side!r}; expected one of {JAX_SIDES}")
    return backends.adapter(jax_side).build(lambda lib: components.build(lib, name, cfg), seed)  # Adapter.build


def component_report(name: str, cfg: Config | None = None, dtype: str = "float32", seed: int = 0,
                     batch: int = 4, seq: int | None = None, jax_side: str = "flax") -> Report:
    """Torch module built and initialised natively, its weights carried to Flax (jax_side "flax": linen, "nnx":
    NNX); outputs and gradients compared.

    A GPT takes (tokens, targets) and returns (logits, loss): its gradient scalar is loss + sum(logits * w);
    any other component's is sum(output * w), w standard normal from seed + 2 (loss_weights)."""
    cfg = cfg or Config()
    seq = cfg.block_size if seq is None else seq
    tmod = build_torch(name, cfg, seed, dtype)
    fmod = build_jax(name, cfg, jax_side, seed)
    x, targets = make_inputs(name, cfg, batch, seq, seed + 1, dtype)
    if components.get(name).takes_tokens:
        return compare(tmod, fmod, (x, targets), output_names=("logits", "loss"), weights={"loss": 1.0},
                       seed=seed + 2, dtype=dtype, name=name)
    return compare(tmod, fmod, x, output_names=("output",), seed=seed + 2, dtype=dtype, name=name)


def jax_values(module, params, inputs: tuple, output_names: tuple[str, ...], seed: int, dtype: str):
    """A linen or NNX module's outputs and the gradients (torch keys, and 'input') of the scalar
    component_report differentiates: loss + sum(output * w), w drawn from seed in the order of the outputs."""
    import jax
    import jax.numpy as jnp

    rng, drawn = np.random.default_rng(seed), {}
    floats = [i for i, a in enumerate(inputs) if a.dtype.kind == "f"]
    with jax.enable_x64(dtype == "float64"):
        def scalar(p, *xs):
            args = [jnp.asarray(a) for a in inputs]
            for i, x in zip(floats, xs):
                args[i] = x
            raw = (nnx_apply(module, p, tuple(args), {}, layers=False)[0] if is_nnx(module)
                   else module.apply({"params": p}, *args))
            out = _leaves(raw, output_names)
            total = jnp.zeros((), dtype)
            for k, v in out.items():
                if k == "loss":
                    total = total + v
                elif jnp.issubdtype(v.dtype, jnp.floating):
                    w = drawn.setdefault(k, rng.standard_normal(v.shape).astype(dtype))
                    total = total + (v * jnp.asarray(w)).sum()
            return total, out

        (_, out), grads = jax.value_and_grad(scalar, tuple(range(1 + len(floats))), has_aux=True)(
            jax.tree_util.tree_map(jnp.asarray, params), *[jnp.asarray(inputs[i]) for i in floats])
        g = flax_to_torch(grads[0], tied=False)
        g.update({"input": np.asarray(grads[1 + n]) for n, _ in enumerate(floats)})
        return {k: np.asarray(v) for k, v in out.items()}, g


def jax_pair_report(name: str, cfg: Config | None = None, dtype: str = "float32", seed: int = 0,
                    batch: int = 4, seq: int | None = None) -> Report:
    """linen against NNX: the torch module's weights (build_torch, seed) carried to both by the bridge, the same
    input as component_report; outputs and gradients (every parameter and the input) at the same bounds,
    linen the reference (gradients relative to its largest in float32, with the eps * G floor)."""
    cfg = cfg or Config()
    seq = cfg.block_size if seq is None else seq
    weights = torch_state(build_torch(name, cfg, seed, dtype))
    linen, nnx_module = build_jax(name, cfg, "flax"), build_jax(name, cfg, "nnx", seed)
    x, targets = make_inputs(name, cfg, batch, seq, seed + 1, dtype)
    tokens = components.get(name).takes_tokens
    inputs = (x, targets) if tokens else (np.asarray(x).astype(dtype),)
    names = ("logits", "loss") if tokens else ("output",)
    import jax
    with jax.enable_x64(dtype == "float64"):
        params = torch_to_flax(weights, abstract_params(linen, *inputs))
    report = Report(name, dtype)
    (want, want_g), (got, got_g) = (jax_values(m, params, inputs, names, seed + 2, dtype) for m in (linen, nnx_module))
    report.torch_params = sum(int(np.size(v)) for v in weights.values())  # linen's, in torch's layout
    report.flax_params = sum(int(np.size(v)) for v in got_g.values()) - int(np.size(got_g.get("input", [])))
    for key in want:
        report.add(key, got[key], want[key], OUTPUT_BOUND[dtype])
    floor = GRAD_FLOOR_EPS[dtype] * _finite_scale(want_g.values())
    for key in sorted(want_g):
        report.add(f"grad[{key}]", got_g[key], want_g[key], GRAD_BOUND[dtype], GRAD_RELATIVE[dtype], floor)
    return report


def pair_report(name: str, pair: tuple[str, str], dtype: str, seed: int = 0) -> Report:
    """component_report for torch against a JAX side, jax_pair_report for linen against NNX."""
    return jax_pair_report(name, dtype=dtype, seed=seed) if pair == LINEN_NNX else component_report(
        name, dtype=dtype, seed=seed, jax_side=pair[1])


def components_table(names: list[str], seed: int = 0, each=None,
                     pairs: tuple[tuple[str, str], ...] = PAIRS) -> tuple[list[str], list[str]]:
    """`learngpt parity`'s table: a header, per component one line for each pair (torch-linen, torch-NNX,
    linen-NNX: the largest output and gradient difference in each dtype, pass or FAIL) and the count of
    components that pass every pair; and every broken bound in words. each(line), when given, receives each
    line as soon as it is measured."""
    each = each or (lambda line: None)
    bounds = "  ".join(f"{d}: output <= {OUTPUT_BOUND[d]:.0e}, gradient <= {GRAD_BOUND[d]:.0e}"
                       f"{' relative' if GRAD_RELATIVE[d] else ''}" for d in DTYPES)
    width = max(len(n) for n in names)
    labels = {pair: f"{LABELS[pair[0]]}-{LABELS[pair[1]]}" for pair in pairs}
    pw = max(len(label) for label in labels.values())
    lines = ["max |a - b| over outputs and over gradients (every parameter and the input), for each pair a-b; "
             f"bounds {bounds}",
             f"{'component':<{width}}  {'pair':<{pw}}  {'out f32':>9}  {'grad f32':>9}  {'out f64':>9}  "
             f"{'grad f64':>9}  result"]
    for line in lines:
        each(line)
    failed = []
    for name in names:
        for n, pair in enumerate(pairs):
            cells, ok = [], True
            for dtype in DTYPES:
                report = pair_report(name, pair, dtype, seed)
                outputs = [r for r in report.rows if not r.tensor.startswith("grad[")]
                grads = [r for r in report.rows if r.tensor.startswith("grad[")]
                cells += [max((r.diff for r in outputs), default=0.0), max((r.diff for r in grads), default=0.0)]
                if not report.ok:
                    ok = False
                    failed += [f"{labels[pair]}: {f}" for f in report.failures()]
            lines.append(f"{name if n == 0 else '':<{width}}  {labels[pair]:<{pw}}  "
                         + "  ".join(f"{c:9.2e}" for c in cells) + f"  {'pass' if ok else 'FAIL'}")
            each(lines[-1])
    broken = {f.split(": ", 1)[1].split(" [")[0] for f in failed}
    lines.append(f"{len(names) - len(broken)}/{len(names)} components pass "
                 f"({', '.join(labels[p] for p in pairs)})")
    each(lines[-1])
    return lines, failed

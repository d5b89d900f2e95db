"""The curriculum's own parity check: a registry component (learngpt.components) built and initialised in
torch, its weights carried to Flax by the bridge, both run on one input and compared by the one engine,
parity.check.compare (outputs, gradients of every parameter and the input, sown intermediates, every layer).

Bounds (the product): outputs max |diff| <= 1e-5 in float32 and <= 1e-10 in float64; gradients of a scalar
loss with respect to every parameter and the input <= 1e-10 (absolute) in float64 and <= 1e-4 relative in
float32, relative meaning max |diff| / max |torch gradient| for that tensor.
"""
from __future__ import annotations

import numpy as np
import torch

import learngpt_flax
import learngpt_torch
from learngpt import components
from learngpt.config import Config
from parity.check import DTYPES, GRAD_BOUND, GRAD_RELATIVE, OUTPUT_BOUND, Layer, Report, Row, compare, max_abs_diff

__all__ = ["DTYPES", "GRAD_BOUND", "GRAD_RELATIVE", "OUTPUT_BOUND", "Layer", "Report", "Row", "build_torch",
           "component_report", "components_table", "loss_weights", "make_inputs", "max_abs_diff"]


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


def component_report(name: str, cfg: Config | None = None, dtype: str = "float32", seed: int = 0,
                     batch: int = 4, seq: int | None = None) -> Report:
    """Torch module built and initialised natively, its weights carried to Flax; outputs and gradients compared.

    A GPT takes (tokens, targets) and returns (logits, loss): its gradient scalar is loss + sum(logits * w);
    any other component's is sum(output * w), w standard normal from seed + 2 (loss_weights)."""
    cfg = cfg or Config()
    seq = cfg.block_size if seq is None else seq
    tmod = build_torch(name, cfg, seed, dtype)
    fmod = components.build(learngpt_flax, name, cfg)
    x, targets = make_inputs(name, cfg, batch, seq, seed + 1, dtype)
    if components.get(name).takes_tokens:
        return compare(tmod, fmod, (x, targets), output_names=("logits", "loss"), weights={"loss": 1.0},
                       seed=seed + 2, dtype=dtype, name=name)
    return compare(tmod, fmod, x, output_names=("output",), seed=seed + 2, dtype=dtype, name=name)


def components_table(names: list[str], seed: int = 0, each=None) -> tuple[list[str], list[str]]:
    """`learngpt parity`'s table: a header, one line per component (the largest output and gradient difference
    in each dtype, pass or FAIL) and the count that pass; and every broken bound in words. each(line), when
    given, receives each line as soon as it is measured."""
    each = each or (lambda line: None)
    bounds = "  ".join(f"{d}: output <= {OUTPUT_BOUND[d]:.0e}, gradient <= {GRAD_BOUND[d]:.0e}"
                       f"{' relative' if GRAD_RELATIVE[d] else ''}" for d in DTYPES)
    width = max(len(n) for n in names)
    lines = [f"max |torch - flax| over outputs and over gradients (every parameter and the input); bounds {bounds}",
             f"{'component':<{width}}  {'out f32':>9}  {'grad f32':>9}  {'out f64':>9}  {'grad f64':>9}  result"]
    for line in lines:
        each(line)
    failed = []
    for name in names:
        cells, ok = [], True
        for dtype in DTYPES:
            report = component_report(name, dtype=dtype, seed=seed)
            outputs = [r for r in report.rows if not r.tensor.startswith("grad[")]
            grads = [r for r in report.rows if r.tensor.startswith("grad[")]
            cells += [max((r.diff for r in outputs), default=0.0), max((r.diff for r in grads), default=0.0)]
            if not report.ok:
                ok = False
                failed += report.failures()
        lines.append(f"{name:<{width}}  " + "  ".join(f"{c:9.2e}" for c in cells) + f"  {'pass' if ok else 'FAIL'}")
        each(lines[-1])
    lines.append(f"{len(names) - len({f.split(' [')[0] for f in failed})}/{len(names)} components pass")
    each(lines[-1])
    return lines, failed

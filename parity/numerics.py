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
           "component_report", "loss_weights", "make_inputs", "max_abs_diff"]


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

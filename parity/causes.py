"""Likely causes of a first divergence: the frameworks' known default mismatches, each tried on the layer.

The checklist is the defaults table the project pins (DESIGN.md: never rely on a default where the other
side's differs): LayerNorm epsilon (torch 1e-5, Flax 1e-6, BERT 1e-12), GELU exact (erf) against its tanh
approximation and other activations, a square kernel left untransposed (the shapes fit, the numbers do not),
a missing or zeroed bias, and TF32 matmuls on a GPU. Each is tried numerically: the torch layer's own input
and weights are run through the alternative, and the cause is named when the Flax value is that alternative's
(much closer to it than to torch's own value). Nothing is named on a guess.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

EPSILONS = (1e-5, 1e-6, 1e-12, 1e-8, 1e-3)
CLOSER = 0.1  # an alternative fits when it is at least 10 times closer to the Flax value than torch's is


def _gelu_exact(h):
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))


def _gelu_tanh(h):
    return 0.5 * h * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h ** 3)))


ACTIVATIONS = {
    "GELU, exact (erf)": _gelu_exact,
    "GELU, tanh approximation": _gelu_tanh,
    "ReLU": lambda h: np.maximum(h, 0.0),
    "SiLU": lambda h: h / (1.0 + np.exp(-h)),
    "tanh": np.tanh,
}


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _dist(a, b) -> float:
    return float(np.max(np.abs(_f64(a) - _f64(b)))) if np.shape(a) == np.shape(b) and np.size(a) else math.inf


def _fits(alternative, flax_value, torch_value) -> bool:
    """The Flax value is the alternative's: far closer to it than to torch's value."""
    to_torch = _dist(flax_value, torch_value)
    return to_torch > 0 and _dist(alternative, flax_value) <= CLOSER * to_torch


def _float_input(call) -> np.ndarray | None:
    from parity.check import _skipped_input

    for name, value in (call.inputs or {}).items():
        if not _skipped_input(name, value):
            return _f64(value)
    return None if call.input is None or call.input.dtype.kind != "f" else _f64(call.input)


def _param(module, name: str) -> np.ndarray | None:
    value = getattr(module, name, None)
    return None if value is None or not hasattr(value, "detach") else _f64(value.detach().cpu().numpy())


def _layer_norm(module, x, flax_y, torch_y, label) -> list[str]:
    eps = getattr(module, "eps", None) or getattr(module, "variance_epsilon", None)
    w, b = _param(module, "weight"), _param(module, "bias")
    if eps is None or x is None:
        return []
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    out = []
    for alt in EPSILONS:
        if math.isclose(alt, eps):
            continue
        y = (x - mean) / np.sqrt(var + alt) * (1.0 if w is None else w) + (0.0 if b is None else b)
        if _fits(y, flax_y, torch_y):
            out.append(f"LayerNorm epsilon at {label}: the Flax output is this LayerNorm's with epsilon {alt:g}, "
                       f"torch's is {eps:g} (Flax's nn.LayerNorm defaults to 1e-6, torch's to 1e-5): give the "
                       f"Flax LayerNorm epsilon={eps:g}")
            break
    return out


def _linear(module, x, flax_y, torch_y, label) -> list[str]:
    w, b = _param(module, "weight"), _param(module, "bias")
    if w is None or w.ndim != 2 or x is None:
        return []
    bias = 0.0 if b is None else b
    out = []
    if w.shape[0] == w.shape[1] and x.shape[-1] == w.shape[0]:
        linear, conv1d = x @ w.T + bias, x @ w + bias  # nn.Linear's (out, in) layout, and Conv1D's (in, out)
        other = conv1d if _dist(linear, torch_y) <= _dist(conv1d, torch_y) else linear
        if _fits(other, flax_y, torch_y):
            out.append(f"a transposed square kernel at {label}: the Flax output is this layer's with its "
                       f"{w.shape} weight transposed (the shapes fit, so nothing refused it): the rule for its "
                       f"kernel needs the other layout (leaf('kernel', 'weight', 'transpose' or 'none', under=...))")
    if b is not None and np.any(b != 0) and _fits(torch_y - b, flax_y, torch_y):
        out.append(f"a missing or zero bias at {label}: the Flax output is this layer's without its bias "
                   f"(use_bias=False, or a bias left at zero or not carried over)")
    return out


def _activation(before, target_flax, target_torch, label, where) -> list[str]:
    """The Flax value is a known activation of the torch output of the last layer that agrees."""
    if before is None or before.output is None:
        return []
    h = _f64(before.output)
    if h.shape != np.shape(target_flax):
        return []
    torch_is = next((n for n, f in ACTIVATIONS.items() if _dist(f(h), target_torch) <= CLOSER * _dist(
        target_flax, target_torch)), None)
    for name, f in ACTIVATIONS.items():
        if name != torch_is and _fits(f(h), target_flax, target_torch):
            return [f"the activation {where} {label}: the Flax value is {name} of {before.name or '(model)'}'s "
                    f"output, torch's is {torch_is or 'another function'}"]
    return []


def tf32(devices: Sequence[str]) -> list[str]:
    """TF32 matmuls (10-bit mantissas) on a GPU: torch's allow_tf32 / matmul precision or JAX's default."""
    if not any(d.startswith(("cuda", "gpu")) for d in devices):
        return []
    import torch

    out = []
    if torch.backends.cuda.matmul.allow_tf32 or torch.get_float32_matmul_precision() != "highest":
        out.append("TF32 on the GPU: torch multiplies float32 matrices in TF32 (torch.backends.cuda.matmul."
                   "allow_tf32 / set_float32_matmul_precision): set 'highest' on both sides for a parity check")
    try:
        import jax

        if jax.default_backend() == "gpu" and jax.config.jax_default_matmul_precision in (None, "default",
                                                                                         "bfloat16", "tensorfloat32"):
            out.append("TF32 on the GPU: XLA's default float32 matmul precision on a GPU is TF32: run under "
                       "jax.default_matmul_precision('highest')")
    except ImportError:
        pass
    return out


def likely_causes(first, layers: Sequence[Any], calls: Sequence[Any], twins: Mapping[str, Any], torch_module,
                  dtype: str) -> list[str]:
    """What fits the first divergent layer, from the checklist (module docstring); [] when nothing does."""
    by_name = {c.name: c for c in calls}
    call, twin = by_name.get(first.name), twins.get(first.name) or {}
    out: list[str] = []
    if call is None:
        return out
    try:
        module = torch_module.get_submodule(first.name.split("#")[0]) if first.name else torch_module
    except AttributeError:
        module = None
    index = layers.index(first)
    before = next((by_name.get(layer.name) for layer in reversed(layers[:index]) if layer.compared and layer.ok),
                  None)
    x = _float_input(call)
    if not first.output_ok and twin.get("output") is not None and call.output is not None:
        flax_y, torch_y = _f64(twin["output"]), _f64(call.output)
        if module is not None and flax_y.shape == torch_y.shape:
            if hasattr(module, "normalized_shape") or "Norm" in type(module).__name__:
                out += _layer_norm(module, x, flax_y, torch_y, first.label)
            else:
                out += _linear(module, x, flax_y, torch_y, first.label)
        if not out and first.input_ok:
            out += _activation(before, flax_y, torch_y, first.label, "inside")
    if not first.input_ok:
        flax_in = next((v for k, v in (twin.get("inputs") or {}).items() if v.dtype.kind == "f"), None)
        if flax_in is not None and x is not None and np.shape(flax_in) == x.shape:
            out += _activation(before, _f64(flax_in), x, first.label, "before")
    devices = [str(p.device) for p in list(torch_module.parameters())[:1]]
    try:
        import jax

        devices.append(jax.default_backend())
    except ImportError:
        pass
    return out + tf32(devices)

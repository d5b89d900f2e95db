"""One rule-based converter between a torch state_dict and Flax params, for any composition of modules.

The rules, applied to each Flax parameter path (nothing is listed per class):
- a submodule in a list attribute, `heads_3`, is torch's `heads.3` (nn.ModuleList);
- a layer of a Sequential, `layers_3` (and flax's own nn.Sequential), is torch's index `3`;
- leaves: Dense `kernel` (in, out) is Linear `weight` (out, in) transposed; Embed `embedding` and
  library LayerNorm `scale` are `weight`; `bias`, and the curriculum LayerNorm's `gamma`/`beta`, keep their names.
Buffers (the causal mask) are registered non-persistent in torch, so they are never weights.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from learngpt.errors import LearngptError

_INDEXED = re.compile(r"(.+)_(\d+)")
_LEAVES = {"kernel": "weight", "embedding": "weight", "scale": "weight", "bias": "bias", "gamma": "gamma",
           "beta": "beta"}


class WeightMismatchError(LearngptError, ValueError):
    """Weights whose keys or shapes do not fit the model they are loaded into; nothing was loaded."""


def torch_module_path(path: tuple[str, ...]) -> str:
    """The torch submodule name for a Flax module path:
    ('contextualizer', 'layers_0', 'head') -> 'contextualizer.0.head'."""
    parts: list[str] = []
    for segment in path:
        m = _INDEXED.fullmatch(segment)
        if m and m.group(1) == "layers":
            parts.append(m.group(2))
        elif m:
            parts.extend(m.groups())
        else:
            parts.append(segment)
    return ".".join(parts)


def torch_key(path: tuple[str, ...]) -> tuple[str, bool]:
    """The torch state_dict key for a Flax parameter path, and whether the array is transposed between them."""
    parts = [torch_module_path(path[:-1])] if path[:-1] else []
    leaf = path[-1]
    if leaf not in _LEAVES:
        raise WeightMismatchError(f"no rule for the Flax parameter {'/'.join(path)}; "
                                  f"known leaves: {sorted(_LEAVES)}")
    return ".".join(parts + [_LEAVES[leaf]]), leaf == "kernel"


def flat_tree(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for name, value in tree.items():
        if isinstance(value, Mapping):
            out.update(flat_tree(value, prefix + (name,)))
        else:
            out[prefix + (name,)] = value
    return out


def _nest(flat: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = value
    return tree


def _unwrap(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept either variables ({'params': ...}) or the params tree itself."""
    return params["params"] if set(params) == {"params"} else params


def flax_to_torch(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Flax params (a pytree) -> a torch-layout state dict of numpy arrays (dtype kept)."""
    out: dict[str, np.ndarray] = {}
    for path, value in flat_tree(_unwrap(params)).items():
        key, transpose = torch_key(path)
        if key in out:
            raise WeightMismatchError(f"two Flax parameters map to the torch key {key!r}")
        array = np.asarray(value)
        out[key] = np.ascontiguousarray(array.T if transpose else array)
    return out


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in np.shape(value)) if not hasattr(value, "shape") else tuple(value.shape)


def check_weights(weights: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], target: str) -> None:
    """Raise WeightMismatchError naming every missing, unexpected or mis-shaped key."""
    problems = [f"missing key {k!r} (expected shape {expected[k]})" for k in expected if k not in weights]
    problems += [f"unexpected key {k!r} (shape {_shape(weights[k])})" for k in weights if k not in expected]
    problems += [f"key {k!r} has shape {_shape(weights[k])}, {target} expects {expected[k]}"
                 for k in expected if k in weights and _shape(weights[k]) != tuple(expected[k])]
    if problems:
        raise WeightMismatchError(f"weights do not fit the {target}; nothing was loaded: " + "; ".join(problems))


def torch_to_flax(weights: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """A torch state dict (tensors or arrays) -> Flax params shaped like template (params or their shapes).

    Every key and shape is checked before anything is built; arrays keep their dtype (numpy, so that
    float64 survives until it is used under x64).
    """
    plan = {path: torch_key(path) for path in flat_tree(_unwrap(template))}
    shapes = flat_tree(_unwrap(template))
    expected = {key: (_shape(shapes[path])[::-1] if t else _shape(shapes[path]))
                for path, (key, t) in plan.items()}
    check_weights(weights, expected, "Flax model")
    out = {}
    for path, (key, transpose) in plan.items():
        value = weights[key]
        array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        out[path] = np.ascontiguousarray(array.T if transpose else array)
    return _nest(out)


def abstract_params(model, *inputs, **kwargs) -> dict[str, Any]:
    """The shapes of a Flax model's params (jax.ShapeDtypeStruct leaves), without computing any."""
    import jax

    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), *inputs, **kwargs))
    return variables.get("params", {})  # a module without parameters (week 1's averaging heads) has none


def torch_state(module) -> dict[str, np.ndarray]:
    """A torch module's weights as numpy arrays (parameters and persistent buffers, no masks)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def load_into_torch(module, weights: Mapping[str, Any]) -> None:
    """Load a torch-layout state dict (numpy arrays) into module, in the module's own dtypes, all or nothing."""
    import torch

    current = module.state_dict()
    check_weights(weights, {k: tuple(v.shape) for k, v in current.items()}, f"torch {type(module).__name__}")
    tensors = {k: torch.as_tensor(np.asarray(weights[k])).to(dtype=current[k].dtype) for k in current}
    module.load_state_dict(tensors, strict=True)

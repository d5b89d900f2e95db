"""torch <-> Flax NNX, and linen <-> NNX, by the rules that convert torch <-> linen (parity.rules).

An NNX module's parameters, `nnx.state(model, nnx.Param)`, are read as the tree the same model has in linen:
a list index joins the name of the attribute that holds the list, ('heads', 3) -> 'heads_3', which is how
linen names the submodules of a list attribute (and nnx.Sequential's `layers` list reads as linen's
`layers_0`). On that tree every torch <-> linen rule, check and error message applies unchanged, so a torch
state_dict, a linen params tree and an NNX model carry the same weights bit for bit, in any direction.
Arrays keep their dtype: float64 stays float64 under jax.enable_x64.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from parity.bridge import _unwrap, check_weights, flax_to_torch, torch_to_flax
from parity.rules import DEFAULT_RULES, Rules, WeightMismatchError, flat_tree, shape_of

__all__ = ["is_nnx", "linen_path", "load_nnx", "nnx_params", "nnx_paths", "nnx_to_torch", "torch_to_nnx"]


def is_nnx(module: Any) -> bool:
    """Whether module is a flax.nnx.Module (without importing flax for a module that is not one)."""
    return any(c.__module__.startswith("flax.nnx") and c.__name__ == "Module" for c in type(module).__mro__)


def linen_path(path: tuple) -> tuple[str, ...]:
    """An NNX state path as linen's: ('contextualizer', 'layers', 0, 'head', 'key') ->
    ('contextualizer', 'layers_0', 'head', 'key')."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int) and out:
            out[-1] = f"{out[-1]}_{part}"
        else:
            out.append(str(part))
    return tuple(out)


def nnx_paths(model, variable=None) -> dict[tuple[str, ...], tuple]:
    """linen path -> NNX path of every variable of the type (default nnx.Param) in model; two NNX paths that
    read as one linen path (an attribute `heads_3` beside a list `heads`) are refused."""
    from flax import nnx

    out: dict[tuple[str, ...], tuple] = {}
    for path, _ in nnx.to_flat_state(nnx.state(model, variable or nnx.Param)):
        key = linen_path(path)
        if key in out:
            raise WeightMismatchError(f"the NNX variables {out[key]} and {path} both read as "
                                      f"{'/'.join(key)}; rename one attribute")
        out[key] = tuple(path)
    return out


def _nest(flat: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = value
    return tree


def nnx_params(model, variable=None) -> dict[str, Any]:
    """The model's parameters (or variables of another type) as linen's nested params tree: the arrays
    themselves (jax arrays, dtype kept), under linen's names."""
    from flax import nnx

    flat = {linen_path(path): value.get_value() for path, value in
            nnx.to_flat_state(nnx.state(model, variable or nnx.Param))}
    return _nest(flat)


def load_nnx(model, params: Mapping[str, Any]) -> None:
    """Set model's parameters from a linen-style params tree (or variables {'params': ...}), all or nothing:
    every path and shape is checked first. Values become jax arrays in their own dtype (float64 needs
    jax.enable_x64)."""
    import jax.numpy as jnp
    from flax import nnx

    params = _unwrap(params)
    paths = nnx_paths(model)
    state = nnx.state(model, nnx.Param)
    current = dict(nnx.to_flat_state(state))
    given = flat_tree(params)
    expected = {"/".join(k): shape_of(current[v].get_value()) for k, v in paths.items()}
    check_weights({"/".join(k): v for k, v in given.items()}, expected, f"NNX {type(model).__name__}")
    flat = [(paths[k], current[paths[k]].replace(jnp.asarray(np.asarray(v)))) for k, v in given.items()]
    nnx.update(model, nnx.from_flat_state(flat))


def torch_to_nnx(weights: Mapping[str, Any], model, rules: Rules = DEFAULT_RULES) -> None:
    """Load a torch state dict (tensors or arrays) into an NNX model by the torch <-> linen rules: every key
    and shape checked before anything is set (WeightMismatchError names each problem), tied and ignored keys
    as for linen."""
    load_nnx(model, torch_to_flax(weights, nnx_params(model), rules))


def nnx_to_torch(model, rules: Rules = DEFAULT_RULES, tied: bool = True) -> dict[str, np.ndarray]:
    """An NNX model's parameters as a torch-layout state dict of numpy arrays (dtype kept)."""
    return flax_to_torch(nnx_params(model), rules, tied)


def _merged(into: dict[str, Any], tree: Mapping[str, Any]) -> dict[str, Any]:
    for name, value in tree.items():
        if isinstance(value, Mapping):
            _merged(into.setdefault(name, {}), value)
        else:
            into[name] = value
    return into


def nnx_apply(model, params: Mapping[str, Any], args: tuple, kwargs: Mapping[str, Any], layers: bool = True):
    """model(*args, **kwargs) in eval mode with params (a linen-style tree, possibly of tracers) in place of
    its own, on a copy built inside the caller's trace (model itself, its mode and state, are left as they
    are): (output, {'intermediates': every submodule call and every nnx.Intermediate, in linen's layout}),
    what linen's apply(..., capture_intermediates=True, mutable=['intermediates']) gives."""
    from flax import nnx

    from parity.trace import nnx_calls, nnx_sown

    paths = nnx_paths(model)
    graphdef, own, rest = nnx.split(model, nnx.Param, ...)
    current = dict(nnx.to_flat_state(own))
    given = nnx.from_flat_state([(paths[k], current[paths[k]].replace(v))
                                 for k, v in flat_tree(_unwrap(params)).items()])
    copy = nnx.merge(graphdef, given, rest, copy=True)  # new objects, of this trace: free to set attributes
    copy.eval()
    if not layers:
        return copy(*args, **kwargs), {"intermediates": nnx_sown(copy)}
    with nnx_calls(copy) as calls:
        out = copy(*args, **kwargs)
    return out, {"intermediates": _merged(calls, nnx_sown(copy))}

"""torch <-> Flax NNX, and linen <-> NNX: an NNX module's variables read as the tree the same model has in
linen (('heads', 3) -> 'heads_3'), so that every torch <-> linen rule, check and message applies unchanged.
"""
from contextlib import nullcontext
from typing import Any, Mapping

import numpy as np

from parity.bridge import _collections, check_weights, flax_to_torch, torch_to_flax
from parity.errors import WeightMismatchError
from parity.rules import DEFAULT_RULES, Rules, flat_tree, nest, shape_of


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


def nnx_params(model, variable=None) -> dict[str, Any]:
    """The model's parameters (or variables of another type) as linen's nested tree of its arrays."""
    from flax import nnx
    return nest({linen_path(path): value.get_value()
                  for path, value in nnx.to_flat_state(nnx.state(model, variable or nnx.Param))})


def _variable_type(collection: str):
    from flax import nnx
    return {"params": nnx.Param, "batch_stats": nnx.BatchStat}[collection]


def nnx_variables(model) -> dict[str, Any]:
    """The model's parameters, and its BatchNorm statistics where it has any, as linen's variables."""
    out = {"params": nnx_params(model)}
    stats = nnx_params(model, _variable_type("batch_stats"))
    return out | ({"batch_stats": stats} if stats else {})


def load_nnx(model, params: Mapping[str, Any]) -> None:
    """Set model's parameters (and, from variables, its BatchNorm statistics) from a linen-style tree, all or
    nothing: every path and shape is checked first. Values become jax arrays in their own dtype."""
    import jax.numpy as jnp
    from flax import nnx
    trees = _collections(params)
    updates = []
    for collection, tree in trees.items():
        paths = nnx_paths(model, _variable_type(collection))
        current = dict(nnx.to_flat_state(nnx.state(model, _variable_type(collection))))
        given = flat_tree(tree)
        expected = {"/".join(k): shape_of(current[v].get_value()) for k, v in paths.items()}
        check_weights({"/".join(k): v for k, v in given.items()}, expected,
                      f"NNX {type(model).__name__}" + ("" if collection == "params" else f" ({collection})"))
        updates += [(paths[k], current[paths[k]].replace(jnp.asarray(np.asarray(v)))) for k, v in given.items()]
    nnx.update(model, nnx.from_flat_state(updates))


def torch_to_nnx(weights: Mapping[str, Any], model, rules: Rules = DEFAULT_RULES) -> None:
    """Load a torch state dict into an NNX model by the torch <-> linen rules, all checked before anything is
    set; torch's BatchNorm buffers become the model's nnx.BatchStat."""
    load_nnx(model, torch_to_flax(weights, nnx_variables(model), rules))


def nnx_to_torch(model, rules: Rules = DEFAULT_RULES, tied: bool = True) -> dict[str, np.ndarray]:
    """An NNX model's parameters (and BatchNorm statistics) as a torch-layout state dict of numpy arrays."""
    return flax_to_torch(nnx_variables(model), rules, tied)


def nnx_apply(model, variables: Mapping[str, Any], args: tuple, kwargs: Mapping[str, Any], layers: bool = True,
              train: bool = False):
    """model(*args, **kwargs) in eval (or train) mode with variables (linen-style, possibly tracers) in place
    of its own, on a copy (model is left as it was): (output, {'intermediates': every submodule call and
    nnx.Intermediate, 'batch_stats': the copy's statistics where it has any}), as linen's apply gives them."""
    from flax import nnx
    from parity.trace import nnx_calls, nnx_sown
    trees = _collections(variables)
    graphdef, own, stats, rest = nnx.split(model, nnx.Param, nnx.BatchStat, ...)
    given = []
    for collection, state in (("params", own), ("batch_stats", stats)):
        if collection in trees:  # the values given, in place of the model's own
            paths = nnx_paths(model, _variable_type(collection))
            current = dict(nnx.to_flat_state(state))
            state = nnx.from_flat_state([(paths[k], current[paths[k]].replace(v))
                                         for k, v in flat_tree(trees[collection]).items()])
        given.append(state)
    copy = nnx.merge(graphdef, *given, rest, copy=True)  # new objects, of this trace: free to set attributes
    copy.train() if train else copy.eval()
    with nnx_calls(copy) if layers else nullcontext({}) as calls:
        out = copy(*args, **kwargs)
    stats = nnx_params(copy, nnx.BatchStat)
    return out, {"intermediates": nest(calls | nnx_sown(copy))} | ({"batch_stats": stats} if stats else {})

"""Every submodule call recorded on both sides (torch: forward hooks; linen: capture_intermediates and a
method interceptor; nnx: each `__call__` wrapped), with its inputs named by the parameter they bind to, so
that two runs can be compared layer by layer; Flax paths become torch names by the rules (parity.rules).
"""
import inspect
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterator, Mapping

import numpy as np

from parity.bridge import flat_tree
from parity.rules import Rules

INPUT = "__input__"  # the name under which a Flax module's first input is sown
OUTPUT = "__call__"  # the name capture_intermediates gives a module's output


@dataclass
class Call:
    """One torch submodule call: its name ('' the root, 'name#2' a second call), its class, its first input and
    output arrays (None where there is none) and every array argument by name (bound_arrays)."""
    name: str
    kind: str
    input: np.ndarray | None
    output: np.ndarray | None
    inputs: dict[str, np.ndarray] | None = None


def first_array(value: Any) -> Any:
    """The first array (torch tensor, jax or numpy array) in value, searched in order through tuples, lists and
    mappings; None if there is none."""
    if isinstance(value, (str, bytes)):  # (numpy's str has a shape)
        return None
    if is_array(value):
        return value
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, (tuple, list)) else ()
    return next((found for found in map(first_array, items) if found is not None), None)


def to_numpy(value: Any) -> np.ndarray | None:
    """A tensor or array as numpy (a copy, detached from torch's graph); half precisions as float32."""
    if value is None:
        return None
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if value.dtype.is_floating_point and value.element_size() < 4:
            value = value.float()
        return value.numpy().copy()
    return np.asarray(value)


def is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def bound_arrays(fn, args: tuple, kwargs: Mapping[str, Any], skip_first: bool = False) -> dict[str, Any]:
    """Every array among a call's arguments, named by the parameter it binds to in fn's signature (a `*args`
    entry 'args[i]', a `**kwargs` entry by its key); 'arg{i}' where the signature cannot be read or bound.
    skip_first drops the first parameter (self, when fn is the unbound method)."""
    out: dict[str, Any] = {}
    try:
        params = list(inspect.signature(fn).parameters.values())[1 if skip_first else 0:]
        bound = inspect.Signature(params).bind_partial(*args, **kwargs).arguments
        kinds = {p.name: p.kind for p in params}
    except (TypeError, ValueError):
        bound = {f"arg{i}": a for i, a in enumerate(args)} | dict(kwargs)
        kinds = {}
    for name, value in bound.items():
        if kinds.get(name) == inspect.Parameter.VAR_POSITIONAL:
            out.update({f"{name}[{i}]": v for i, v in enumerate(value) if is_array(v)})
        elif kinds.get(name) == inspect.Parameter.VAR_KEYWORD:
            out.update({k: v for k, v in value.items() if is_array(v)})
        elif is_array(value):
            out[name] = value
    return out


def call_label(name: str, count: int) -> str:
    return name if count == 1 else f"{name}#{count}"


@contextmanager
def torch_calls(module, order: list[str] | None = None) -> Iterator[list[Call]]:
    """Record every submodule call of module (the root included) while the block runs; order, if given,
    receives each module's name in the order its first call began."""
    calls: list[Call] = []
    counts: Counter = Counter()

    def began(name, mod, args):
        if order is not None and name not in order:
            order.append(name)

    def ended(name, mod, args, kwargs, output):
        counts[name] += 1
        named = {k: to_numpy(v) for k, v in bound_arrays(mod.forward, args, kwargs).items()}
        calls.append(Call(call_label(name, counts[name]), type(mod).__name__, to_numpy(first_array((args, kwargs))),
                          to_numpy(first_array(output)), named))

    handles = [m.register_forward_hook(partial(ended, name), with_kwargs=True) for name, m in module.named_modules()]
    handles += [m.register_forward_pre_hook(partial(began, name)) for name, m in module.named_modules()]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def flax_inputs_sown():
    """While the block runs, each linen module's first input array is sown under INPUT, and every array
    argument under 'INPUT:name' (bound_arrays), before it runs."""
    import flax.linen as nn
    def sow_inputs(next_fun, args, kwargs, context):
        if context.method_name == "__call__":
            x = first_array((args, kwargs))
            if x is not None:
                context.module.sow("intermediates", INPUT, x)
            for name, value in bound_arrays(type(context.module).__call__, args, kwargs, skip_first=True).items():
                context.module.sow("intermediates", f"{INPUT}:{name}", value)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(sow_inputs):
        yield


def _recorded(leaf: str) -> bool:
    return leaf in (INPUT, OUTPUT) or leaf.startswith(INPUT + ":")


def flax_calls(intermediates: Mapping[str, Any], rules: Rules,
               pairs: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Torch call label -> {'path': the Flax module path, 'input', 'inputs' (by argument name), 'output'} from a
    Flax 'intermediates' collection (each module's k-th call pairs with its twin's k-th call, 'name#k').
    pairs (Flax module path 'a/b' -> torch module name) overrides the rules' pairing for those modules."""
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    for path, values in flat_tree(intermediates).items():
        if not _recorded(path[-1]):
            continue
        where = "/".join(path[:-1]) or "(root)"
        name = (pairs or {}).get(where, rules.module_name(path[:-1]))
        for k, value in enumerate(values, 1):
            entry = found[call_label(name, k)]
            entry["path"] = where
            if path[-1] in (OUTPUT, INPUT):
                entry["output" if path[-1] == OUTPUT else "input"] = to_numpy(first_array(value))
            else:
                entry.setdefault("inputs", {})[path[-1].split(":", 1)[1]] = to_numpy(value)
    return dict(found)


def sown_values(intermediates: Mapping[str, Any], rules: Rules) -> list[tuple[str, str, Any]]:
    """(torch module name, sown name, first sown value) for every value a Flax module sowed itself."""
    return [(rules.module_name(path[:-1]), path[-1], values[0])
            for path, values in flat_tree(intermediates).items() if not _recorded(path[-1])]


@contextmanager
def nnx_calls(model) -> Iterator[dict[tuple[str, ...], tuple]]:
    """Record every call of a flax.nnx model's submodules (the model included) while the block runs, as the flat
    paths of linen's 'intermediates' ({('head', OUTPUT): (out,), ('head', INPUT): (x,), ('head', 'INPUT:x'): (x,)}),
    each class's `__call__` wrapped for the block's duration (a call inside the same module's own call is one)."""
    from flax import nnx
    from parity.nnx import linen_path
    where = {id(module): linen_path(path) for path, module in nnx.iter_modules(model)}
    calls: dict[tuple[str, ...], tuple] = {}
    active: list[int] = []
    owners = {next((c for c in type(m).__mro__ if "__call__" in vars(c)), None)
              for _, m in nnx.iter_modules(model)} - {None, object}  # (nnx.List, Rngs: nothing to call)
    originals = {cls: vars(cls)["__call__"] for cls in owners}

    def wrap(cls):
        original = originals[cls]

        def call(self, *args, **kwargs):
            if id(self) in active or id(self) not in where:
                return original(self, *args, **kwargs)
            active.append(id(self))
            try:
                out = original(self, *args, **kwargs)
            finally:
                active.pop()
            x = first_array((args, kwargs))
            named = {f"{INPUT}:{name}": v for name, v in bound_arrays(original, args, kwargs, skip_first=True).items()}
            for leaf, value in (({INPUT: x} if x is not None else {}) | named | {OUTPUT: out}).items():
                path = where[id(self)] + (leaf,)
                calls[path] = calls.get(path, ()) + (value,)
            return out
        return call

    try:
        for cls in owners:
            setattr(cls, "__call__", wrap(cls))
        yield calls
    finally:
        for cls, original in originals.items():
            setattr(cls, "__call__", original)


def nnx_sown(model) -> dict[tuple[str, ...], tuple]:
    """Every nnx.Intermediate a flax.nnx model holds, as the flat paths of linen's sown values ({('head',
    'attentions'): (value,)})."""
    from flax import nnx
    from parity.nnx import linen_path
    return {linen_path(tuple(path[:-1])) + (str(path[-1]),): (variable.get_value(),)
            for path, variable in nnx.to_flat_state(nnx.state(model, nnx.Intermediate))}

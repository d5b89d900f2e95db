"""Every submodule call recorded on both sides, so that two runs can be compared layer by layer.

torch: a forward hook on every submodule records, in execution order (a hook fires when its module's forward
returns, so children come before their parent), the module's first input array and its first output array.
Flax: `capture_intermediates` records each module's `__call__` output, and a method interceptor sows its first
input under INPUT beside it. The Flax module path is turned into the torch module name by the same rules that
convert the weights (parity.rules), which is how each call finds its twin.

"First array" means the first tensor found in order through tuples, lists, dicts and ModelOutputs: the hidden
state of a block that returns (hidden, attention weights), the logits of a language model's output.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from parity.bridge import flat_tree
from parity.rules import Rules

INPUT = "__input__"  # the name under which a Flax module's first input is sown
OUTPUT = "__call__"  # the name capture_intermediates gives a module's output


@dataclass
class Call:
    """One torch submodule call: its name ('' is the root; a second call of the same module is 'name#2'),
    its class and its first input and output arrays (None where there is no array)."""
    name: str
    kind: str
    input: np.ndarray | None
    output: np.ndarray | None


def first_array(value: Any) -> Any:
    """The first array (torch tensor, jax or numpy array) in value, searched in order; None if there is none."""
    if value is None or isinstance(value, (str, bytes)):
        return None
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    if isinstance(value, Mapping):
        items = list(value.values())
    elif isinstance(value, (tuple, list)):
        items = list(value)
    else:
        return None
    for item in items:
        found = first_array(item)
        if found is not None:
            return found
    return None


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


def call_label(name: str, count: int) -> str:
    return name if count == 1 else f"{name}#{count}"


@contextmanager
def torch_calls(module) -> Iterator[list[Call]]:
    """Record every submodule call of module (the root included) while the block runs."""
    calls: list[Call] = []
    counts: Counter = Counter()

    def hook_for(name):
        def hook(mod, args, kwargs, output):
            counts[name] += 1
            calls.append(Call(call_label(name, counts[name]), type(mod).__name__,
                              to_numpy(first_array((args, kwargs))), to_numpy(first_array(output))))
        return hook

    handles = [m.register_forward_hook(hook_for(name), with_kwargs=True) for name, m in module.named_modules()]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def sow_inputs(next_fun, args, kwargs, context):
    """A flax.linen method interceptor: each module's first input array is sown under INPUT, then it runs."""
    if context.method_name == "__call__":
        x = first_array((args, kwargs))
        if x is not None:
            context.module.sow("intermediates", INPUT, x)
    return next_fun(*args, **kwargs)


@contextmanager
def flax_inputs_sown():
    import flax.linen as nn

    with nn.intercept_methods(sow_inputs):
        yield


def flax_calls(intermediates: Mapping[str, Any], rules: Rules) -> dict[str, dict[str, Any]]:
    """Torch call label -> {'path': the Flax module path, 'input', 'output'} from a Flax 'intermediates'
    collection (each module's k-th call pairs with its twin's k-th call, 'name#k')."""
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    for path, values in flat_tree(intermediates).items():
        if path[-1] not in (INPUT, OUTPUT):
            continue
        name = rules.module_name(path[:-1])
        for k, value in enumerate(values, 1):
            entry = found[call_label(name, k)]
            entry["path"] = "/".join(path[:-1]) or "(root)"
            entry["input" if path[-1] == INPUT else "output"] = to_numpy(first_array(value))
    return dict(found)


def sown_values(intermediates: Mapping[str, Any], rules: Rules) -> list[tuple[str, str, Any]]:
    """(torch module name, sown name, first sown value) for every value a Flax module sowed itself."""
    return [(rules.module_name(path[:-1]), path[-1], values[0])
            for path, values in flat_tree(intermediates).items() if path[-1] not in (INPUT, OUTPUT)]

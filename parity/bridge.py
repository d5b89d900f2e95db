"""One rule-based converter between a torch state_dict and Flax params, for any composition of modules.

The rules live in parity.rules (DEFAULT_RULES: the curriculum's, and most linen/nn pairs'): a Flax list
attribute `heads_3` is torch's `heads.3` (nn.ModuleList), a Sequential's `layers_3` is torch's index `3`; Dense
`kernel` (in, out) is Linear `weight` (out, in) transposed; Embed `embedding` and library LayerNorm `scale` are
`weight`; `bias`, and the curriculum LayerNorm's `gamma`/`beta`, keep their names. Every function takes
`rules=` for a model of your own (`DEFAULT_RULES.extend(...)`). Buffers (the causal mask) are registered
non-persistent in torch, so they are never weights.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Mapping

import numpy as np

from parity.rules import DEFAULT_RULES, Rules, Transform, WeightMismatchError, flat_tree, shape_of

__all__ = ["WeightMismatchError", "abstract_params", "check_weights", "flat_tree", "flax_to_torch",
           "load_into_torch", "mapping", "torch_key", "torch_module_path", "torch_state", "torch_to_flax"]

SHOWN = 5  # keys named per kind of problem in a mismatch message; the rest are counted


def torch_module_path(path: tuple[str, ...], rules: Rules = DEFAULT_RULES) -> str:
    """The torch submodule name for a Flax module path:
    ('contextualizer', 'layers_0', 'head') -> 'contextualizer.0.head'."""
    return rules.module_name(path)


def torch_key(path: tuple[str, ...], rules: Rules = DEFAULT_RULES) -> tuple[str, bool]:
    """The torch state_dict key for a Flax parameter path, and whether the array is transposed between them
    (rules.torch_key gives the Transform itself)."""
    key, transform = rules.torch_key(path)
    return key, transform.name == "transpose"


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


def _plan(params: Mapping[str, Any], rules: Rules) -> dict[tuple[str, ...], tuple[str, Transform]]:
    """Flax path -> (torch key, transform) for every leaf; two Flax leaves on one torch key are refused."""
    plan, seen = {}, {}
    for path in flat_tree(params):
        key, transform = rules.torch_key(path)
        if key in seen:
            raise WeightMismatchError(f"the Flax parameters {'/'.join(seen[key])} and {'/'.join(path)} both map to "
                                      f"the torch key {key!r}; add a rename or leaf rule that tells them apart")
        seen[key] = path
        plan[path] = (key, transform)
    return plan


def mapping(template: Mapping[str, Any], rules: Rules = DEFAULT_RULES) -> list[tuple[str, str, str]]:
    """(torch key, Flax path 'a/b/kernel', transform name) for every Flax parameter, in torch-key order: the
    whole conversion, to read before any number. A Flax leaf no rule knows is listed with its error."""
    out = []
    for path in flat_tree(_unwrap(template)):
        try:
            key, transform = rules.torch_key(path)
            out.append((key, "/".join(path), transform.name))
        except WeightMismatchError:
            out.append(("(no rule)", "/".join(path), "-"))
    return sorted(out)


def flax_to_torch(params: Mapping[str, Any], rules: Rules = DEFAULT_RULES, tied: bool = True) -> dict[str, np.ndarray]:
    """Flax params (a pytree) -> a torch-layout state dict of numpy arrays (dtype kept). With tied, each tied
    torch key (rules.tied) is rebuilt as a copy of the key it shares its tensor with."""
    params = _unwrap(params)
    out: dict[str, np.ndarray] = {}
    for path, (key, transform) in _plan(params, rules).items():
        out[key] = transform.to_torch(np.asarray(_get(params, path)))
    if tied:
        for key, source in rules.tied:
            if source in out and key not in out:
                out[key] = out[source].copy()
    return out


def _get(tree: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for name in path:
        tree = tree[name]
    return tree


def _shape(value: Any) -> tuple[int, ...]:
    return shape_of(value)


def _listed(items: list[str], what: str) -> list[str]:
    """The first SHOWN items, then a count of the rest: a mismatch message stays readable."""
    return items[:SHOWN] + ([f"... and {len(items) - SHOWN} more {what}"] if len(items) > SHOWN else [])


def check_weights(weights: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], target: str,
                  plan: Mapping[str, tuple[str, Transform]] | None = None) -> None:
    """Raise WeightMismatchError naming every missing, unexpected or mis-shaped key with both shapes.

    plan (torch key -> (Flax path, transform)) lets the message suggest a rule: a tensor whose shape is the
    transpose of the expected one looks transposed, and a missing key whose shape an unexpected key has
    looks renamed.
    """
    shapes = {k: _shape(v) for k, v in weights.items()}
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    wrong = [k for k in expected if k in weights and shapes[k] != tuple(expected[k])]
    if not (missing or unexpected or wrong):
        return

    def flax_name(k):
        return f"the Flax parameter {plan[k][0]!r}" if plan and k in plan else repr(k)

    def hint_missing(k):
        """The unexpected key most like k by name, among those of k's shape (or its transpose) first: a ready
        rename rule when the two differ in one module segment."""
        want = tuple(expected[k])
        same = [u for u in unexpected if shapes[u] == want]
        flipped = [u for u in unexpected if len(want) > 1 and shapes[u] == want[::-1]]
        named = [u for u in unexpected if difflib.SequenceMatcher(None, k, u).ratio() >= 0.8]
        for pool, what in ((same, "has that shape"), (flipped, f"has its transpose {want[::-1]}"),
                           (named, "has a similar name (shape {})")):
            if pool:
                best = max(pool, key=lambda u: difflib.SequenceMatcher(None, k, u).ratio())
                text = f": the unexpected key {best!r} " + what.format(shapes[best])
                rule = _rename_hint(k, best, plan[k][0] if plan and k in plan else None)
                if pool is flipped:
                    text += " (a rename and a transpose rule?)"
                if pool is same:
                    text += " (a rename rule?)"
                return text + (f"; try {rule}" if rule else "")
        return ""

    def hint_wrong(k):
        got, want = shapes[k], tuple(expected[k])
        if len(want) < 2 or got != want[::-1]:
            return ""
        if plan and k in plan and plan[k][1].name != "none":
            return (f": looks transposed: the rule for {flax_name(k)} applies {plan[k][1].name!r}; "
                    f"make it leaf(..., 'none') for this tensor")
        return f": looks transposed: add a transpose rule for {flax_name(k)}"

    problems = _listed([f"missing key {k!r} (expected shape {tuple(expected[k])}){hint_missing(k)}" for k in missing],
                       "missing keys")
    def hint_unexpected(k):
        """A tensor equal to an expected key's: the two are tied (one tensor under two names)."""
        value = _numpy(weights[k])
        twin = next((e for e in expected if e in weights and shapes[e] == shapes[k]
                     and np.array_equal(_numpy(weights[e]), value)), None)
        if twin is None:
            return ""
        return (f": it equals {twin!r}, the same tensor under two names; declare it tied: "
                f"DEFAULT_RULES.extend(tied={{{k!r}: {twin!r}}})")

    problems += _listed([f"unexpected key {k!r} (shape {shapes[k]}){hint_unexpected(k)}" for k in unexpected],
                        "unexpected keys")
    problems += _listed([f"key {k!r} has shape {shapes[k]}, {target} expects {tuple(expected[k])}{hint_wrong(k)}"
                         for k in wrong], "mis-shaped keys")
    counts = ", ".join(f"{n} {what}" for n, what in ((len(missing), "missing"), (len(unexpected), "unexpected"),
                                                       (len(wrong), "mis-shaped")) if n)
    raise WeightMismatchError(f"weights do not fit the {target} ({counts}); nothing was loaded: " + "; ".join(problems))


def _rename_hint(missing: str, found: str, flax_path: str | None) -> str:
    """`rename(pattern, replacement)` turning the Flax segment behind `missing` into `found`'s torch segment,
    where the two keys differ in one module segment (digits generalised when they agree); '' otherwise."""
    if flax_path is None:
        return ""
    m_parts, f_parts = missing.split("."), found.split(".")
    if m_parts[-1] != f_parts[-1]:
        return ""
    flax_mods = flax_path.split("/")[:-1]
    for i, seg in enumerate(flax_mods):
        torch_segments = f_parts[:-1]
        rest = len(flax_mods) - i - 1
        if len(torch_segments) - rest - 1 < 0:
            continue
        head = ".".join(torch_segments[:len(torch_segments) - rest - 1])
        target = torch_segments[len(torch_segments) - rest - 1]
        if not missing.startswith(head):
            continue
        if torch_segments[len(torch_segments) - rest:] == m_parts[len(m_parts) - 1 - rest:-1] and seg != target:
            digits = re.fullmatch(r"(\D*?)(\d+)", seg), re.fullmatch(r"(\D*?)(\d+)", target)
            if all(digits) and digits[0][2] == digits[1][2]:
                return f'rename(r"{re.escape(digits[0][1])}(\\d+)", r"{digits[1][1]}\\1")'
            return f'rename(r"{re.escape(seg)}", "{target}")'
    return ""


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def torch_to_flax(weights: Mapping[str, Any], template: Mapping[str, Any],
                  rules: Rules = DEFAULT_RULES) -> dict[str, Any]:
    """A torch state dict (tensors or arrays) -> Flax params shaped like template (params or their shapes).

    Every key and shape is checked before anything is built; arrays keep their dtype (numpy, so that
    float64 survives until it is used under x64). Tied keys (rules.tied) must equal the key they share with;
    ignored keys (rules.ignored) are left out.
    """
    template = _unwrap(template)
    rules = rules.bind(template, weights)
    plan = _plan(template, rules)
    shapes = {path: _shape(value) for path, value in flat_tree(template).items()}
    expected = {key: transform.torch_shape(shapes[path]) for path, (key, transform) in plan.items()}
    by_key = {key: ("/".join(path), transform) for path, (key, transform) in plan.items()}
    tied = {k: s for k, s in rules.tied if k in weights and k not in expected}
    for key, source in tied.items():
        if source in weights and not np.array_equal(_numpy(weights[key]), _numpy(weights[source])):
            raise WeightMismatchError(f"the tied key {key!r} differs from {source!r}, the tensor it is declared to "
                                      f"share; nothing was loaded")
    check_weights({k: v for k, v in weights.items() if k not in tied and not rules.is_ignored(k)}, expected,
                  "Flax model", by_key)
    out = {path: transform.to_flax(_numpy(weights[key]), shapes[path]) for path, (key, transform) in plan.items()}
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

"""One rule-based converter between a torch state_dict and Flax params or variables, for any composition of
modules: the rules are parity.rules' (DEFAULT_RULES, or your own through every function's `rules=`).
"""
import contextlib
import difflib
import itertools
import re
from typing import Any, Mapping

import numpy as np

from parity.errors import WeightMismatchError
from parity.rules import DEFAULT_RULES, Piece, Rules, Transform, flat_tree, nest, permute, shape_of

SHOWN = 5  # keys named per kind of problem in a mismatch message; the rest are counted
CARRIED = ("params", "batch_stats")  # the collections the rules carry: parameters, BatchNorm's statistics


def is_variables(tree: Mapping[str, Any]) -> bool:
    """Whether tree is a variables dict ({'params': ..., 'batch_stats': ...}) rather than a params tree."""
    return "params" in tree and set(tree) <= set(CARRIED) and all(isinstance(v, Mapping) for v in tree.values())


def _collections(tree: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Each carried collection of variables, or {'params': tree} for a params tree (or {'params': tree})."""
    if is_variables(tree):
        return {c: tree[c] for c in CARRIED if c in tree}
    return {"params": tree["params"] if set(tree) == {"params"} else tree}


def _plan(tree: Mapping[str, Any], rules: Rules) -> list[tuple[str, Piece]]:
    """(collection, Piece) for every Flax leaf of every carried collection; two Flax leaves on one whole torch
    key, or on overlapping rows of one, are refused."""
    plan, seen = [], {}
    for collection, sub in _collections(tree).items():
        for piece in rules.pieces(sub):
            plan.append((collection, piece))
            if piece.path is None:
                continue
            rows = piece.rows or (0, -1)
            for other, other_rows in seen.get(piece.key, []):
                overlap = -1 in (rows[1], other_rows[1]) or (rows[0] < other_rows[1] and other_rows[0] < rows[1])
                if overlap and piece.primary and other[1] != piece.path:
                    raise WeightMismatchError(f"the Flax parameters {'/'.join(other[1])} and {'/'.join(piece.path)} "
                                              f"both map to the torch key {piece.key!r}; add a rename or leaf rule "
                                              f"that tells them apart")
            if piece.primary:
                seen.setdefault(piece.key, []).append(((collection, piece.path), rows))
    return plan


def _torch_shapes(plan: list[tuple[str, Piece]], flat: Mapping[tuple[str, ...], Any]) -> dict[str, tuple[int, ...]]:
    """The shape each torch key must have for the Flax leaves of plan (flat: (collection,) + path -> leaf)."""
    out: dict[str, tuple[int, ...]] = {}
    for collection, piece in plan:
        if piece.path is None:
            continue
        shape = piece.transform.torch_shape(_piece_shape(flat[(collection,) + piece.path], piece))
        if piece.rows is not None:
            if shape[0] != piece.rows[1] - piece.rows[0]:
                raise WeightMismatchError(f"the rule for {'/'.join(piece.path)} takes rows {piece.rows} of "
                                          f"{piece.key!r}, but the Flax leaf holds {shape[0]}")
            stop = max(piece.rows[1], out.get(piece.key, (0,))[0])
            stop = max([stop] + [p.rows[1] for _, p in plan if p.key == piece.key and p.rows is not None])
            shape = (stop,) + shape[1:]
        out[piece.key] = shape
    return out


def _piece_shape(leaf: Any, piece: Piece) -> tuple[int, ...]:
    """The shape of the part of a Flax leaf the piece fills: its one layer (a stack's entry), its slice `at`."""
    shape = shape_of(leaf)[0 if piece.index is None else 1:]
    return shape if piece.at is None else shape[:-1] + (piece.at[1] - piece.at[0],)


def _flat(tree: Mapping[str, Any]) -> dict[tuple[str, ...], Any]:
    return {(c,) + path: v for c, sub in _collections(tree).items() for path, v in flat_tree(sub).items()}


def _where(collection: str, piece: Piece) -> str:
    path = "/".join(piece.path or ()) + (f"[..., {piece.at[0]}:{piece.at[1]}]" if piece.at else "")
    return path if collection == "params" else f"{path} ({collection})"


def mapping(template: Mapping[str, Any], rules: Rules = DEFAULT_RULES) -> list[tuple[str, str, str]]:
    """(torch key, Flax path 'a/b/kernel', transform) for every Flax leaf, in torch-key order, rows as
    'key[0:8]'; a summed slice, one held by none and a leaf no rule knows say so."""
    out = []
    for collection, sub in _collections(template).items():
        flat = flat_tree(sub)
        try:
            pieces = rules.pieces(sub)
        except WeightMismatchError:
            pieces = []
            for path in flat:
                try:
                    pieces.append(Piece(path, *rules.torch_key(path)))
                except WeightMismatchError:
                    out.append(("(no rule)", "/".join(path), "-"))
        for piece in pieces:
            key = piece.key + (f"[{piece.rows[0]}:{piece.rows[1]}]" if piece.rows else "")
            if piece.path is None:
                out.append((key, "(none: must be zero)", "-"))
                continue
            label = piece.transform.label(len(_piece_shape(flat[piece.path], piece)))
            where = _where(collection, piece) + ("" if piece.index is None else f"[{piece.index}]")
            out.append((key, where, label + ("" if piece.primary else ", summed")))
    return sorted(out)


def flax_to_torch(params: Mapping[str, Any], rules: Rules = DEFAULT_RULES, tied: bool = True,
                  gradients: bool = False) -> dict[str, np.ndarray]:
    """Flax params or variables -> a torch-layout state dict of numpy arrays (dtype kept); with tied, each tied
    key rebuilt as a copy of its source. A summand not `primary` goes back as zeros; with gradients (a gradient
    tree), each summand gets the leaf's gradient. A torch slice no Flax leaf holds gets zeros."""
    flat = _flat(params)
    plan = _plan(params, rules)
    shapes = _torch_shapes(plan, flat)
    out: dict[str, np.ndarray] = {}
    for collection, piece in plan:
        if piece.path is None:
            continue
        leaf = np.asarray(flat[(collection,) + piece.path])
        if piece.key not in out:
            out[piece.key] = np.zeros(shapes[piece.key], dtype=leaf.dtype)
        if not (piece.primary or gradients):
            continue
        leaf = leaf if piece.index is None else leaf[piece.index]
        value = piece.transform.to_torch(leaf if piece.at is None else leaf[..., piece.at[0]:piece.at[1]])
        if piece.rows is None:
            out[piece.key] = np.ascontiguousarray(value)
        else:
            out[piece.key][piece.rows[0]:piece.rows[1]] = value
    if tied:
        for key, source in rules.tied:
            if source in out and key not in out:
                out[key] = out[source].copy()
    return out


def _listed(items: list[str], what: str = "", shown: int = SHOWN) -> list[str]:
    """The first `shown` items, then a count of the rest: a message stays readable."""
    rest = f"... and {len(items) - shown} more" + (f" {what}" if what else "")
    return list(items[:shown]) + ([rest] if len(items) > shown else [])


def check_weights(weights: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], target: str,
                  plan: Mapping[str, tuple[str, Transform]] | None = None) -> None:
    """Raise WeightMismatchError naming every missing, unexpected or mis-shaped key with both shapes; plan
    (torch key -> (Flax path, transform[, Flax shape])) lets the message suggest the rule to add."""
    shapes = {k: shape_of(v) for k, v in weights.items()}
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
        for pool, what in ((same, "has that shape (a rename rule?)"),
                           (flipped, f"has its transpose {want[::-1]} (a rename and a transpose rule?)"),
                           (named, "has a similar name (shape {})")):
            if pool:
                best = max(pool, key=lambda u: difflib.SequenceMatcher(None, k, u).ratio())
                rule = _rename_hint(k, best, plan[k][0] if plan and k in plan else None)
                return f": the unexpected key {best!r} " + what.format(shapes[best]) + (f"; try {rule}" if rule else "")
        return ""

    def hint_wrong(k):
        got, want = shapes[k], tuple(expected[k])
        if plan and k in plan and len(plan[k]) > 2 and len(got) == len(plan[k][2]) > 2:
            fits = [axes for axes in itertools.permutations(range(len(got)))
                    if permute(*axes).torch_shape(plan[k][2]) == got]
            if fits:
                module = re.escape(k.rsplit(".", 1)[0]) if "." in k else ""
                return (f": the Flax leaf {plan[k][0]!r} {tuple(plan[k][2])} is this tensor's axes in another order: "
                        f"try leaf({plan[k][0].rsplit('/', 1)[-1]!r}, {k.rsplit('.', 1)[-1]!r}, "
                        f"permute{fits[0]}" + (f", under=r'{module}$')" if module else ")"))
        if len(want) < 2 or got != want[::-1]:
            return ""
        if plan and k in plan and plan[k][1].name != "none":
            return (f": looks transposed: the rule for {flax_name(k)} applies {plan[k][1].name!r}; "
                    f"make it leaf(..., 'none') for this tensor")
        return f": looks transposed: add a transpose rule for {flax_name(k)}"

    def hint_bias(k):
        return hint_missing(k) or (": torch's layer has no bias (bias=False): give the Flax layer use_bias=False"
                                   if k.endswith("bias") else "")

    def hint_unexpected(k):
        """A BatchNorm statistic without batch_stats, a bias the Flax layer lacks, or a tied tensor."""
        if (k.endswith((".running_mean", ".running_var")) or k in ("running_mean", "running_var")) and \
                not any(e.endswith(("running_mean", "running_var")) for e in expected):
            return (": a BatchNorm statistic, and the Flax template holds no batch_stats: carry the variables "
                    "({'params': ..., 'batch_stats': ...}, e.g. parity.bridge.abstract_variables)")
        if k.endswith("bias") and plan and any(e.rsplit(".", 1)[0] == k.rsplit(".", 1)[0] for e in expected):
            return ": the Flax layer has no bias (use_bias=False): give it use_bias=True, as torch's has one"
        value = _numpy(weights[k])
        twin = next((e for e in expected if e in weights and shapes[e] == shapes[k]
                     and np.array_equal(_numpy(weights[e]), value)), None)
        return "" if twin is None else (f": it equals {twin!r}, the same tensor under two names; declare it tied: "
                                        f"DEFAULT_RULES.extend(tied={{{k!r}: {twin!r}}})")

    problems = _listed([f"missing key {k!r} (expected shape {tuple(expected[k])}){hint_bias(k)}" for k in missing],
                       "missing keys")
    problems += _listed([f"unexpected key {k!r} (shape {shapes[k]}){hint_unexpected(k)}" for k in unexpected],
                        "unexpected keys")
    problems += _listed([f"key {k!r} has shape {shapes[k]}, {target} expects {tuple(expected[k])}{hint_wrong(k)}"
                         for k in wrong], "mis-shaped keys")
    counts = ", ".join(f"{n} {what}" for n, what in ((len(missing), "missing"), (len(unexpected), "unexpected"),
                                                       (len(wrong), "mis-shaped")) if n)
    raise WeightMismatchError(f"weights do not fit the {target} ({counts}); nothing was loaded: " + "; ".join(problems))


def _rename_hint(missing: str, found: str, flax_path: str | None) -> str:
    """`rename(...)` turning the Flax segment behind `missing` into `found`'s, where they differ in one module
    segment (digits generalised when they agree); '' otherwise."""
    m_parts, f_parts = missing.split("."), found.split(".")
    if flax_path is None or m_parts[-1] != f_parts[-1]:
        return ""
    flax_mods, torch_segments = flax_path.split("/")[:-1], f_parts[:-1]
    for i, seg in enumerate(flax_mods):
        rest = len(flax_mods) - i - 1
        j = len(torch_segments) - rest - 1  # the torch segment that seg would become
        if j < 0 or not missing.startswith(".".join(torch_segments[:j])):
            continue
        target = torch_segments[j]
        if torch_segments[j + 1:] == m_parts[len(m_parts) - 1 - rest:-1] and seg != target:
            digits = re.fullmatch(r"(\D*?)(\d+)", seg), re.fullmatch(r"(\D*?)(\d+)", target)
            if all(digits) and digits[0][2] == digits[1][2]:
                return f'rename(r"{re.escape(digits[0][1])}(\\d+)", r"{digits[1][1]}\\1")'
            return f'rename(r"{re.escape(seg)}", "{target}")'
    return ""


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def torch_to_flax(weights: Mapping[str, Any], template: Mapping[str, Any],
                  rules: Rules = DEFAULT_RULES) -> dict[str, Any]:
    """A torch state dict (tensors or arrays) -> Flax params shaped like template, or variables where template
    is variables (torch's BatchNorm buffers are the batch_stats). Every key and shape is checked before anything
    is built; numpy arrays, dtype kept. Tied keys must equal their source; ignored keys are left out; a torch
    slice no Flax leaf holds must be zero."""
    rules = rules.bind(template, weights)
    plan = _plan(template, rules)
    flat = _flat(template)
    expected = _torch_shapes(plan, flat)
    by_key = {piece.key: (_where(c, piece), piece.transform, shape_of(flat[(c,) + piece.path])) for c, piece in plan
              if piece.path is not None}
    tied = {k: s for k, s in rules.tied if k in weights and k not in expected}
    for key, source in tied.items():
        if source in weights and not np.array_equal(_numpy(weights[key]), _numpy(weights[source])):
            raise WeightMismatchError(f"the tied key {key!r} differs from {source!r}, the tensor it is declared to "
                                      f"share; nothing was loaded")
    check_weights({k: v for k, v in weights.items() if k not in tied and not rules.is_ignored(k)}, expected,
                  "Flax model", by_key)
    built: dict[tuple[str, ...], np.ndarray] = {}
    for collection, piece in plan:
        part = _numpy(weights[piece.key])
        part = part if piece.rows is None else part[piece.rows[0]:piece.rows[1]]
        if piece.path is None:
            if np.any(part != 0):
                raise WeightMismatchError(f"{piece.key}[{piece.rows[0]}:{piece.rows[1]}] is not zero, and the Flax "
                                          f"module has no parameter that holds it; nothing was loaded")
            continue
        where = (collection,) + piece.path
        value = piece.transform.to_flax(part, _piece_shape(flat[where], piece))
        if where not in built:
            built[where] = np.zeros(shape_of(flat[where]), dtype=value.dtype)
        if piece.index is not None:
            built[where][piece.index] = value
        elif piece.at is None:
            built[where] = built[where] + value  # one piece: the value itself; several: their sum
        else:
            built[where][..., piece.at[0]:piece.at[1]] += value
    out = {c: nest({path[1:]: v for path, v in built.items() if path[0] == c}) for c in _collections(template)}
    return out if is_variables(template) else out["params"]


def abstract_params(model, *inputs, **kwargs) -> dict[str, Any]:
    """The shapes of a Flax model's params (jax.ShapeDtypeStruct leaves), without computing any."""
    return abstract_variables(model, *inputs, **kwargs).get("params", {})  # week 1's averaging heads have none


def abstract_variables(model, *inputs, order: list | None = None, **kwargs) -> dict[str, Any]:
    """The shapes of a linen model's carried variables, without computing any; order, if given, receives each
    module's path in the order its first call began."""
    import flax.linen as nn
    import jax
    def record(next_fun, args, kw, context):
        if context.method_name == "__call__" and tuple(context.module.path) not in order:
            order.append(tuple(context.module.path))
        return next_fun(*args, **kw)

    with nn.intercept_methods(record) if order is not None else contextlib.nullcontext():
        variables = jax.eval_shape(lambda: model.init(jax.random.key(0), *inputs, **kwargs))
    return {c: variables[c] for c in CARRIED if c in variables}


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

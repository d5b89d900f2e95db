"""Conversion rules between a torch state_dict and a Flax parameter tree, for any pair of modules (numpy only).

A Flax path becomes a torch key by the first `rename` matching each module segment (`layers_0` -> `0`,
`heads_3` -> `heads.3`) and the first `leaf` rule matching the leaf, which gives the torch name and the layout
`Transform` (Dense `kernel` is Linear `weight` transposed). Rules given to `extend` come first; torch keys
without a twin are `tied` or `ignored`. `bind` resolves what the renames leave without a torch twin (unnamed
`Dense_0`, packed units, scanned stacks) against the torch keys at hand, as exact pairs (`paths`).
"""
import dataclasses
import re
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from parity.errors import WeightMismatchError

Shape = tuple[int, ...]
STACKED = "stacked"  # the kind of a bound pack that is a scanned Flax stack of torch's list


@dataclass(frozen=True)
class Transform:
    """How one tensor's layout differs: the torch array's axes permuted (`axes`; None keeps them; () is a
    kernel's: (out, in, *window) -> (*window, in, out)), then reshaped to the Flax shape where `permuted`
    (flax shape -> the shape between the two steps) is given."""
    name: str
    axes: tuple[int, ...] | None = None
    permuted: Callable[[Shape], Shape] | None = None

    def _forward(self, ndim: int) -> tuple[int, ...] | None:
        if self.axes is None:
            return None
        if self.axes == ():  # a kernel: (out, in) -> (in, out); (out, in, *window) -> (*window, in, out)
            return (1, 0) if ndim <= 2 else tuple(range(2, ndim)) + (1, 0)
        return self.axes

    def label(self, ndim: int) -> str:
        """The transform as applied to ndim axes: a Conv2d weight's 'transpose' is 'permute(2, 3, 1, 0)'."""
        if self.axes == () and ndim > 2 and self.permuted is None:
            return f"permute{self._forward(ndim)}"
        return self.name

    def torch_shape(self, flax_shape: Sequence[int]) -> Shape:
        """The shape the torch tensor must have for a Flax tensor of flax_shape."""
        shape = tuple(int(d) for d in (self.permuted(tuple(flax_shape)) if self.permuted else flax_shape))
        axes = self._forward(len(shape))
        return shape if axes is None else tuple(shape[i] for i in np.argsort(axes))  # permuted[i] = torch[axes[i]]

    def to_flax(self, array: np.ndarray, flax_shape: Sequence[int]) -> np.ndarray:
        axes = self._forward(array.ndim)
        out = array if axes is None else np.transpose(array, axes)
        return np.ascontiguousarray(out.reshape(tuple(flax_shape)) if self.permuted else out)

    def to_torch(self, array: np.ndarray) -> np.ndarray:
        shape = self.permuted(tuple(array.shape)) if self.permuted else array.shape
        out = array.reshape(shape)
        axes = self._forward(out.ndim)
        return np.ascontiguousarray(out if axes is None else np.transpose(out, np.argsort(axes)))

    def __str__(self) -> str:
        return self.name


NONE = Transform("none")
TRANSPOSE = Transform("transpose", axes=())  # a Dense kernel's transpose, a Conv kernel's (*window, in, out)


def permute(*axes: int) -> Transform:
    """The Flax tensor is the torch tensor with its axes in this order, e.g. permute(2, 3, 1, 0)."""
    return Transform(f"permute{axes}", axes=tuple(axes))


def reshape(permuted: Callable[[Shape], Shape], then: str | Transform = "none") -> Transform:
    """`then` on the torch tensor, then a reshape to the Flax shape; `permuted`: Flax shape -> the shape after
    `then`, e.g. reshape(lambda s: (s[0], s[1] * s[2]), then="transpose") for a DenseGeneral kernel (C, H, hs)."""
    base = as_transform(then)
    return Transform(f"reshape+{base.name}", axes=base.axes, permuted=permuted)


def as_transform(value: str | Transform) -> Transform:
    if isinstance(value, Transform):
        return value
    known = {"none": NONE, "transpose": TRANSPOSE}
    if value not in known:
        raise ValueError(f"unknown transform {value!r}; expected 'none', 'transpose', permute(...) or reshape(...)")
    return known[value]


@dataclass(frozen=True)
class Rename:
    """A Flax module segment matching `pattern` whole becomes `replacement` ('' drops it)."""
    pattern: str
    replacement: str

    def apply(self, segment: str) -> str | None:
        m = re.fullmatch(self.pattern, segment)
        return m.expand(self.replacement) if m else None


@dataclass(frozen=True)
class Leaf:
    """A Flax leaf matching `pattern` whole is the torch tensor `torch_name`, laid out by `transform` ('none',
    'transpose', permute(...) or reshape(...)); with `under`, only in torch modules whose name contains a match
    of it."""
    pattern: str
    torch_name: str
    transform: Transform | str = NONE
    under: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "transform", as_transform(self.transform))

    def apply(self, leaf: str, module: str) -> tuple[str, Transform] | None:
        m = re.fullmatch(self.pattern, leaf)
        if not m or (self.under is not None and not re.search(self.under, module)):
            return None
        return m.expand(self.torch_name), self.transform


rename, leaf = Rename, Leaf  # the rules' own words: rename(pattern, replacement), leaf(pattern, torch_name, ...)


@dataclass(frozen=True)
class Piece:
    """One torch tensor (or its `rows`) carried into one Flax leaf (or its slice `at` on the last axis) by
    `transform`. Pieces on one leaf are its slices or a sum (the summand not `primary` goes back as zeros);
    path None: a torch slice no Flax leaf holds (must be zero); `index`: the leaf's entry on its leading axis."""
    path: tuple[str, ...] | None
    key: str
    transform: Transform = NONE
    rows: tuple[int, int] | None = None
    at: tuple[int, int] | None = None
    primary: bool = True
    index: int | None = None


@dataclass(frozen=True)
class Packed:
    """A ready rule for a torch module whose tensors pack what its Flax twin holds apart: `torch_units(keys)`
    -> [(module name, layer)]; `flax_match(leaf shapes)`; `pieces(module path, leaf shapes, torch module,
    layer)` -> [Piece], or WeightMismatchError where the Flax module cannot express a torch option."""
    kind: str
    torch_units: Callable[[Sequence[str]], list[tuple[str, int]]]
    flax_match: Callable[[Mapping[tuple[str, ...], Shape]], bool]
    pieces: Callable[[tuple[str, ...], Mapping[tuple[str, ...], Shape], str, int], list[Piece]]


@dataclass(frozen=True)
class Rules:
    """An ordered set of conversion rules (module docstring). Immutable: `extend` returns new rules."""
    renames: tuple[Rename, ...] = ()
    leaves: tuple[Leaf, ...] = ()
    tied: tuple[tuple[str, str], ...] = ()  # (torch key, the torch key whose tensor it shares)
    ignored: tuple[str, ...] = ()  # patterns of torch keys that have no Flax twin
    paths: tuple[tuple[tuple[str, ...], str], ...] = ()  # exact Flax module path -> torch module name (bind)
    packed: tuple[Packed, ...] = ()  # ready rules for packed weights (LSTM, GRU, MultiheadAttention)
    packs: tuple[tuple[tuple[str, ...], str, int, str], ...] = ()  # bound: (Flax module, torch module, layer, kind)
    ambiguous: tuple[tuple[tuple[tuple[str, ...], ...], tuple[str, ...]], ...] = ()  # bound: fits several ways
    said: tuple[str, ...] = ()  # bound: how pairs were found where no name gave them (by order, by shape)

    def _with(self, **changes) -> "Rules":
        return dataclasses.replace(self, **changes)

    def extend(self, *rules: Rename | Leaf | Packed, tied: Mapping[str, str] | None = None,
               ignored: Sequence[str] = ()) -> "Rules":
        """These rules first, then self's: `DEFAULT_RULES.extend(rename(r"ln_(\\d+)", r"ln_\\1"),
        tied={"lm_head.weight": "transformer.wte.weight"})`."""
        unknown = [r for r in rules if not isinstance(r, (Rename, Leaf, Packed))]
        if unknown:
            raise TypeError(f"expected rename(...), leaf(...) or packed rules, got {unknown!r}")
        return self._with(renames=tuple(r for r in rules if isinstance(r, Rename)) + self.renames,
                          leaves=tuple(r for r in rules if isinstance(r, Leaf)) + self.leaves,
                          packed=tuple(r for r in rules if isinstance(r, Packed)) + self.packed,
                          tied=tuple((tied or {}).items()) + self.tied, ignored=tuple(ignored) + self.ignored)

    def __add__(self, other: "Rules") -> "Rules":
        """self's rules first, then other's."""
        return Rules(*(getattr(self, f) + getattr(other, f)
                       for f in ("renames", "leaves", "tied", "ignored", "paths", "packed", "packs")))

    def module_name(self, path: Sequence[str]) -> str:
        """The torch submodule name of a Flax module path: ('contextualizer', 'layers_0', 'head') ->
        'contextualizer.0.head'; () -> '' (the root)."""
        fixed = dict(self.paths)
        parts: list[str] = []
        for i, segment in enumerate(path):
            if tuple(path[:i + 1]) in fixed:
                parts = [p for p in fixed[tuple(path[:i + 1])].split(".") if p]
                continue
            new = next((r for r in (rule.apply(segment) for rule in self.renames) if r is not None), segment)
            if new:
                parts.append(new)
        return ".".join(parts)

    def bind(self, template: Mapping[str, Any], weights: Mapping[str, Any],
             flax_order: Sequence[tuple[str, ...]] = (), torch_order: Sequence[str] = ()) -> "Rules":
        """These rules with the Flax modules they leave without a torch twin resolved (module docstring); self
        where nothing changes. Unnamed modules are paired in the order of their calls (flax_order, torch_order)
        where known, else of creation and registration; several fitting pairings are listed in `ambiguous`."""
        flat = flat_tree(template.get("params", template) if set(template) == {"params"} else template)
        shapes = {k: shape_of(v) for k, v in weights.items()}
        modules: dict[tuple[str, ...], dict[tuple[str, ...], Shape]] = {}  # module -> {path inside: shape}
        for path, value in flat.items():
            for i in range(len(path)):
                modules.setdefault(tuple(path[:i]), {})[tuple(path[i:])] = shape_of(value)
        leaves = {m: [inside[0] for inside in found if len(inside) == 1] for m, found in modules.items()}
        fixed: dict[tuple[str, ...], str] = dict(self.paths)
        f_rank = {tuple(p): i for i, p in enumerate(flax_order)}
        packs = list(self.packs) or self._bind_packed(modules, list(weights), f_rank)
        claimed = {p for p, *_ in packs}
        said, ambiguous = list(self.said), []
        if packs and not self.packs:
            said += [f"{'/'.join(p)} holds torch's list {m}.0 .. {m}.{k - 1} (a stacked Flax module)" if kind == STACKED
                     else f"{'/'.join(p)} holds the {kind} {m}" + (f" layer {k}" if k else "") + " (its packed rule)"
                     for p, m, k, kind in packs]
        order = list(dict.fromkeys(k.rsplit(".", 1)[0] for k in weights))  # torch modules, registration order
        t_rank = {n: i for i, n in enumerate(torch_order)}

        def inside_pack(module):
            return any(module[:len(p)] == p for p in claimed)

        def rules_with(extra):
            return self._with(paths=tuple({**fixed, **extra}.items()), packs=tuple(packs))

        def name_of(module):
            return rules_with({}).module_name(module)

        def fits(module: tuple[str, ...], name: str) -> bool:
            trial = rules_with({module: name} if module else {})
            for leaf_name in leaves[module]:
                try:
                    key, transform = trial.torch_key(module + (leaf_name,))
                except WeightMismatchError:
                    return False
                if shapes.get(key) != transform.torch_shape(shape_of(flat[module + (leaf_name,)])):
                    return False
            return bool(leaves[module]) or any(m == name or m.startswith(name + ".") for m in order)

        for module in sorted((m for m in leaves if m and not inside_pack(m)), key=len):
            if module in fixed or fits(module, name_of(module)):
                continue
            kept = _key(name_of(module[:-1]), module[-1])
            if fits(module, kept):
                fixed[module] = kept
        for parent_path in sorted({m[:-1] for m in leaves if m}, key=len):
            unnamed = [m for m in leaves if m and m[:-1] == parent_path and m not in fixed and not inside_pack(m)
                       and re.fullmatch(r"[A-Z]\w*_\d+", m[-1]) and not fits(m, name_of(m))]
            if not unnamed:
                continue
            created = sorted(unnamed, key=lambda m: (m[-1].rsplit("_", 1)[0], int(m[-1].rsplit("_", 1)[1])))
            unnamed = sorted(created, key=lambda m: f_rank.get(m, len(f_rank) + created.index(m)))
            parent = name_of(parent_path)
            prefix = parent + "." if parent else ""
            claimed_names = {name_of(m) for m in leaves if m and m[:-1] == parent_path and m not in unnamed}
            children = list(dict.fromkeys(prefix + m[len(prefix):].split(".")[0] for m in order
                                          if m.startswith(prefix) and m != parent))
            registered = list(children)
            children.sort(key=lambda c: t_rank.get(c, len(t_rank) + registered.index(c)))
            candidates = {m: [c for c in children if c not in claimed_names and fits(m, c)] for m in unnamed}
            for module in unnamed:
                match = next((c for c in candidates[module] if c not in claimed_names), None)
                if match is not None:
                    fixed[module] = match
                    claimed_names.add(match)
            several = [m for m in unnamed if len(candidates[m]) > 1 and m in fixed]
            if len(several) > 1:
                ambiguous.append((tuple(several), tuple(fixed[m] for m in several)))
                how = "the order of their calls" if f_rank and t_rank else "the order of creation and registration"
                said.append(f"{', '.join('/'.join(m) for m in several)} fit {', '.join(fixed[m] for m in several)} "
                            f"by shape in more than one way: paired by {how}")
        bound = rules_with({})._with(ambiguous=tuple(ambiguous), said=tuple(said))
        return self if bound == self else bound

    def _bind_packed(self, modules: Mapping[tuple[str, ...], Mapping[tuple[str, ...], Shape]], keys: Sequence[str],
                     f_rank: Mapping[tuple[str, ...], int]) -> list[tuple[tuple[str, ...], str, int, str]]:
        """(Flax module, torch module, layer, kind) for each packed unit, by name, else in order when the counts
        agree; and each scanned stack of torch's list name.0 .. name.(L-1) (kind STACKED)."""
        out = []
        taken: set[tuple[str, ...]] = set()
        for rule in self.packed:
            units = rule.torch_units(keys)
            if not units:
                continue
            found = sorted((m for m, leaves in modules.items() if m and rule.flax_match(leaves)),
                           key=lambda m: (f_rank.get(m, len(f_rank)), m))
            found = [m for m in found if not any(m[:len(t)] == t for t in taken)]
            unpaired = []
            for module in found:
                names = {self.module_name(module), self.module_name(module[:-1])}
                unit = next((u for u in units if (u[0] in names and sum(v[0] == u[0] for v in units) == 1)
                             or f"{u[0]}.{u[1]}" in names), None)
                if unit is None:
                    unpaired.append(module)
                    continue
                units.remove(unit)
                out.append((module, unit[0], unit[1], rule.kind))
            if unpaired and len(unpaired) == len(units):
                out += [(m, u[0], u[1], rule.kind) for m, u in zip(unpaired, units)]
            taken |= {m for m, *_ in out}
        for module, leaves in modules.items():  # scanned stacks: torch's list name.0 .. name.(L-1)
            name = self.module_name(module)
            if not module or not leaves or any(module[:len(t)] == t or t[:len(module)] == module for t in taken):
                continue
            depth = {s[0] if s else None for s in leaves.values()}
            heads = [k[len(name) + 1:].split(".")[0] for k in keys if k.startswith(name + ".")]
            count = len({h for h in heads if h.isdigit()})
            if len(depth) == 1 and count > 1 and depth == {count} and all(h.isdigit() for h in heads):
                out.append((module, name, count, STACKED))
                taken.add(module)
        return out

    def _stacked(self, module, leaves, name, count) -> list[Piece]:
        """A scanned Flax stack: each leaf's entry i on the leading axis is torch's name.i's tensor."""
        plain = self._with(paths=(), packs=())
        return [Piece(module + rel, f"{name}.{i}" + key[len(f"_stack{i}"):], transform, index=i)
                for rel in leaves for i in range(count) for key, transform in [plain.torch_key((f"_stack{i}",) + rel)]]

    def pieces(self, template: Mapping[str, Any]) -> list[Piece]:
        """Every Flax leaf of template as the torch tensors it is made of: the bound packs' first, then one
        whole tensor per leaf."""
        out: list[Piece] = []
        flat = {path: shape_of(v) for path, v in flat_tree(template).items()}
        done: set[tuple[str, ...]] = set()
        rule_of = {r.kind: r for r in self.packed}
        for module, name, layer, kind in self.packs:
            leaves = {p[len(module):]: s for p, s in flat.items() if p[:len(module)] == module}
            if not leaves:
                continue
            made = (self._stacked(module, leaves, name, layer) if kind == STACKED else
                    rule_of[kind].pieces(module, leaves, name, layer))
            out += made
            done |= {p.path for p in made if p.path is not None}
        return out + [Piece(path, *self.torch_key(path)) for path in flat if path not in done]

    def torch_key(self, path: Sequence[str]) -> tuple[str, Transform]:
        """The torch state_dict key of a Flax parameter path, and the transform between their layouts."""
        module = self.module_name(path[:-1])
        found = next((f for f in (rule.apply(path[-1], module) for rule in self.leaves) if f is not None), None)
        if found is not None:
            return _key(module, found[0]), found[1]
        raise WeightMismatchError(f"no rule for the Flax parameter {'/'.join(path)}; known leaves: "
                                  f"{sorted({r.pattern for r in self.leaves})} (add one: leaf(pattern, torch_name, "
                                  f"transform))")

    def is_ignored(self, key: str) -> bool:
        return any(re.fullmatch(p, key) for p in self.ignored)


def _units(pattern: str, keys: Sequence[str]) -> list[tuple[str, int]]:
    """torch_units (pattern bound by partial): (module, layer) of 'module.<pattern, layer group 1>' keys, in order."""
    found = [(m[1], int(m[2]) if m.lastindex and m.lastindex >= 2 and m[2] else 0)
             for m in (re.fullmatch(r"(?:(.*)\.)?" + pattern, k) for k in keys) if m]
    return list(dict.fromkeys((name or "", layer) for name, layer in found))


def _key(module: str, name: str) -> str:
    return f"{module}.{name}" if module else name


def _gates(cell, leaves, module, layer, names, gate_leaf, summed) -> list[Piece]:
    """A recurrent cell of separate gate Dense layers: torch's weight_ih/hh_l{layer} rows, gate by gate, into
    'i<gate>'/'h<gate>' kernels; biases by `summed` (gate -> the (side, torch bias) pairs summed)."""
    hidden = leaves[(gate_leaf("h", names[0]), "kernel")][-1]
    suffix = f"_l{layer}"
    out = []
    for j, gate in enumerate(names):
        rows = (j * hidden, (j + 1) * hidden)
        for side in ("i", "h"):
            out.append(Piece(cell + (gate_leaf(side, gate), "kernel"), _key(module, f"weight_{side}h{suffix}"),
                             TRANSPOSE, rows))
        for side, key in summed(gate):
            path = cell + (gate_leaf(side, gate), "bias")
            out.append(Piece(path, _key(module, f"bias_{key}h{suffix}"), NONE, rows,
                             primary=not any(p.path == path for p in out)))
    return out


def _lstm_leaf(side: str, gate: str) -> str:
    return f"{side}{gate}"


def _lstm_pieces(cell, leaves, module, layer) -> list[Piece]:
    gate_leaf = (lambda side, gate: "if_" if side + gate == "if" else side + gate) if ("if_", "kernel") in leaves \
        else _lstm_leaf
    if not any(p[-1] == "bias" for p in leaves):
        raise WeightMismatchError(f"the Flax cell {'/'.join(cell)} has no biases; torch's LSTM {module!r} has two")
    return _gates(cell, leaves, module, layer, "ifgo", gate_leaf, lambda gate: (("h", "h"), ("h", "i")))


def _gru_pieces(cell, leaves, module, layer) -> list[Piece]:
    suffix = f"_l{layer}"
    if ("dense_i", "kernel") in leaves:  # flax.nnx.GRUCell: the gates r, z, n side by side, as torch packs them
        hidden = leaves[("dense_h", "kernel")][-1] // 3  # (H, 3H): r, z, n
        return [Piece(cell + ("dense_i", "kernel"), _key(module, f"weight_ih{suffix}"), TRANSPOSE),
                Piece(cell + ("dense_h", "kernel"), _key(module, f"weight_hh{suffix}"), TRANSPOSE),
                Piece(cell + ("dense_i", "bias"), _key(module, f"bias_ih{suffix}"), NONE),
                Piece(cell + ("dense_i", "bias"), _key(module, f"bias_hh{suffix}"), NONE, (0, 2 * hidden),
                      (0, 2 * hidden), primary=False),
                Piece(None, _key(module, f"bias_hh{suffix}"), NONE, (2 * hidden, 3 * hidden))]
    return _gates(cell, leaves, module, layer, "rzn", _lstm_leaf,
                  lambda gate: (("i", "i"), ("h", "h")) if gate == "n" else (("i", "i"), ("i", "h")))


def _mha_pieces(module_path, leaves, module, layer) -> list[Piece]:
    embed, heads, head_size = leaves[("query", "kernel")]
    to_kernel = reshape(lambda s: (s[0], s[1] * s[2]), then="transpose")  # (E, H, D) <- (H*D, E)
    to_bias = reshape(lambda s: (s[0] * s[1],))  # (H, D) <- (H*D,)
    out = [Piece(module_path + (name, leaf_name), _key(module, f"in_proj_{kind}"), transform,
                 (j * heads * head_size, (j + 1) * heads * head_size))
           for j, name in enumerate(("query", "key", "value"))
           for leaf_name, kind, transform in (("kernel", "weight", to_kernel), ("bias", "bias", to_bias))]
    out += [Piece(module_path + ("out", "kernel"), _key(module, "out_proj.weight"),
                  reshape(lambda s: (s[0] * s[1], s[2]), then="transpose")),  # (H, D, E) <- (E, H*D)
            Piece(module_path + ("out", "bias"), _key(module, "out_proj.bias"))]
    return [p for p in out if p.path[len(module_path):] in leaves]  # the biases the Flax module has


def _leafset(*names: str) -> Callable[[Mapping[tuple[str, ...], Shape]], bool]:
    want = {tuple(n.split("/")) for n in names}
    return lambda leaves: {p for p in leaves if len(p) == 2 and p[-1] == "kernel"} == want


LSTM = Packed("LSTM", partial(_units, r"weight_ih_l(\d+)"),
              lambda lv: _leafset(*(f"{s}{g}/kernel" for s in "ih" for g in "ifgo"))(lv)
              or _leafset(*(f"{s}{g}/kernel".replace("if/", "if_/") for s in "ih" for g in "ifgo"))(lv),
              _lstm_pieces)
GRU = Packed("GRU", partial(_units, r"weight_ih_l(\d+)"),
             lambda lv: _leafset(*(f"{s}{g}/kernel" for s in "ih" for g in "rzn"))(lv)
             or _leafset("dense_i/kernel", "dense_h/kernel")(lv), _gru_pieces)
MULTIHEAD_ATTENTION = Packed(
    "MultiheadAttention", partial(_units, r"in_proj_weight()"),
    lambda lv: _leafset("query/kernel", "key/kernel", "value/kernel", "out/kernel")(lv)
    and len(lv[("query", "kernel")]) == 3, _mha_pieces)


# Today's behaviour, the rules of every curriculum module (and of most linen/nn pairs):
DEFAULT_RULES = Rules(
    renames=(rename(r"layers_(\d+)", r"\1"),  # a Sequential's layer (ours and flax's): torch index 3
             rename(r"(.+)_(\d+)", r"\1.\2")),  # a list attribute heads_3: nn.ModuleList heads.3
    leaves=(leaf("kernel", "weight", "transpose"),  # Dense (in, out) <-> Linear (out, in)
            leaf("embedding", "weight"),  # Embed <-> Embedding
            leaf("scale", "weight"),  # library LayerNorm
            leaf("bias", "bias"), leaf("gamma", "gamma"), leaf("beta", "beta"),  # the curriculum LayerNorm
            leaf("mean", "running_mean"), leaf("var", "running_var")),  # BatchNorm's batch_stats: torch buffers
    ignored=(r"(.*\.)?num_batches_tracked",),  # torch's BatchNorm step counter: Flax keeps none
    packed=(LSTM, GRU, MULTIHEAD_ATTENTION),  # torch's packed gates and projections, when both sides have them
)


def flat_tree(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """A nested mapping (a Flax params or intermediates tree) as {path tuple: leaf}."""
    out: dict[tuple[str, ...], Any] = {}
    for name, value in tree.items():
        out.update(flat_tree(value, prefix + (name,)) if isinstance(value, Mapping) else {prefix + (name,): value})
    return out


def nest(flat: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    """{path tuple: leaf} as the nested mapping flat_tree reads."""
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = value
    return tree


def shape_of(value: Any) -> Shape:
    return tuple(int(d) for d in (value.shape if hasattr(value, "shape") else np.shape(value)))

"""Conversion rules between a torch state_dict and a Flax parameter tree, for any pair of modules.

A Flax parameter path, ('contextualizer', 'layers_0', 'sa', 'heads_3', 'key', 'kernel'), becomes a torch key
in two steps, and nothing is listed per class:

1. each module segment (every segment but the last) is rewritten by the first `rename` rule whose pattern
   matches it whole: `layers_0` -> `0` (a Sequential's layer), `heads_3` -> `heads.3` (a list attribute is
   torch's nn.ModuleList); a segment no rule matches is kept; one rewritten to '' is dropped;
2. the leaf (the last segment) by the first `leaf` rule whose pattern matches it whole and whose `under`
   pattern, if it has one, is found in the torch module name: it gives the torch name and the layout
   `Transform` (Dense `kernel` (in, out) is Linear `weight` (out, in): "transpose").

The same renames pair a Flax module with its torch twin (`module_name`), which is how the layer-by-layer
comparison (parity.trace) finds twins. Rules given to `extend` are tried before the ones they extend, so a
user's rule overrides a default. Torch keys without a Flax twin are declared: `tied` (the same tensor as
another key, e.g. an output layer sharing the token embedding; rebuilt from it on the way back) or `ignored`
(e.g. BatchNorm's `num_batches_tracked`). Imports numpy only.

`bind(template, weights)` resolves, against the torch keys at hand, the Flax modules the renames leave without
a torch twin: a segment that carries a digit as part of its name (`ln_1`, `fc_1`) is kept when the rename's
list reading (`ln.1`) names no torch module, and Flax's unnamed submodules (`Dense_0`, `LayerNorm_1`, the
names `nn.compact` gives) are paired, in the order of their class and index, with the parent's torch
children whose tensors fit their shapes, in the torch module's registration order. Bound rules carry the
result as exact Flax-path -> torch-name pairs (`paths`), consulted before the renames.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from learngpt.errors import LearngptError

Shape = tuple[int, ...]


class WeightMismatchError(LearngptError, ValueError):
    """Weights whose keys or shapes do not fit the model they are loaded into; nothing was loaded."""


@dataclass(frozen=True)
class Transform:
    """How one tensor's layout differs between the frameworks: the torch array's axes are permuted
    (`axes`; None keeps them, () reverses them all, i.e. `.T`), then, for a reshape, the result is reshaped
    to the Flax shape. `permuted(flax_shape)` gives the shape between the two steps, so that the way back
    needs nothing but the Flax array."""
    name: str
    axes: tuple[int, ...] | None = None
    permuted: Callable[[Shape], Shape] | None = None

    def _forward(self, ndim: int) -> tuple[int, ...] | None:
        if self.axes is None:
            return None
        return tuple(range(ndim))[::-1] if self.axes == () else self.axes

    def torch_shape(self, flax_shape: Sequence[int]) -> Shape:
        """The shape the torch tensor must have for a Flax tensor of flax_shape."""
        shape = tuple(int(d) for d in (self.permuted(tuple(flax_shape)) if self.permuted else flax_shape))
        axes = self._forward(len(shape))
        if axes is None:
            return shape
        out = [0] * len(shape)
        for i, a in enumerate(axes):  # permuted[i] = torch[axes[i]]
            out[a] = shape[i]
        return tuple(out)

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
TRANSPOSE = Transform("transpose", axes=())


def permute(*axes: int) -> Transform:
    """The Flax tensor is the torch tensor with its axes in this order: a torch Conv2d weight
    (out, in, kh, kw) is a Flax Conv kernel (kh, kw, in, out) by permute(2, 3, 1, 0)."""
    return Transform(f"permute{axes}", axes=tuple(axes))


def reshape(permuted: Callable[[Shape], Shape], then: str | Transform = "none") -> Transform:
    """`then` (a transpose or a permutation) on the torch tensor, followed by a reshape to the Flax shape.
    `permuted` gives, for a Flax shape, the shape after `then`: a torch Linear (H*hs, C) that is a Flax
    DenseGeneral kernel (C, H, hs) is reshape(lambda s: (s[0], s[1] * s[2]), then="transpose")."""
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
    """A Flax module-path segment matching `pattern` whole becomes `replacement` (re's \\1 groups; a '.'
    in it makes two torch segments; '' drops the segment)."""
    pattern: str
    replacement: str

    def apply(self, segment: str) -> str | None:
        m = re.fullmatch(self.pattern, segment)
        return m.expand(self.replacement) if m else None


@dataclass(frozen=True)
class Leaf:
    """A Flax leaf matching `pattern` whole is the torch tensor `torch_name` (re's \\1 groups allowed), laid out
    by `transform`; with `under`, only in torch modules whose name contains a match of that pattern."""
    pattern: str
    torch_name: str
    transform: Transform = NONE
    under: str | None = None

    def apply(self, leaf: str, module: str) -> tuple[str, Transform] | None:
        m = re.fullmatch(self.pattern, leaf)
        if not m or (self.under is not None and not re.search(self.under, module)):
            return None
        return m.expand(self.torch_name), self.transform


def rename(pattern: str, replacement: str) -> Rename:
    return Rename(pattern, replacement)


def leaf(pattern: str, torch_name: str, transform: str | Transform = "none", under: str | None = None) -> Leaf:
    return Leaf(pattern, torch_name, as_transform(transform), under)


@dataclass(frozen=True)
class Rules:
    """An ordered set of conversion rules (module docstring). Immutable: `extend` returns new rules."""
    renames: tuple[Rename, ...] = ()
    leaves: tuple[Leaf, ...] = ()
    tied: tuple[tuple[str, str], ...] = ()  # (torch key, the torch key whose tensor it shares)
    ignored: tuple[str, ...] = ()  # patterns of torch keys that have no Flax twin
    paths: tuple[tuple[tuple[str, ...], str], ...] = ()  # exact Flax module path -> torch module name (bind)

    def extend(self, *rules: Rename | Leaf, tied: Mapping[str, str] | None = None,
               ignored: Sequence[str] = ()) -> "Rules":
        """These rules first, then self's: `DEFAULT_RULES.extend(rename(r"ln_(\\d+)", r"ln_\\1"),
        tied={"lm_head.weight": "transformer.wte.weight"})`."""
        unknown = [r for r in rules if not isinstance(r, (Rename, Leaf))]
        if unknown:
            raise TypeError(f"expected rename(...) or leaf(...) rules, got {unknown!r}")
        return Rules(renames=tuple(r for r in rules if isinstance(r, Rename)) + self.renames,
                     leaves=tuple(r for r in rules if isinstance(r, Leaf)) + self.leaves,
                     tied=tuple((tied or {}).items()) + self.tied, ignored=tuple(ignored) + self.ignored,
                     paths=self.paths)

    def __add__(self, other: "Rules") -> "Rules":
        """self's rules first, then other's."""
        return Rules(self.renames + other.renames, self.leaves + other.leaves, self.tied + other.tied,
                     self.ignored + other.ignored, self.paths + other.paths)

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

    def bind(self, template: Mapping[str, Any], weights: Mapping[str, Any]) -> "Rules":
        """These rules with the Flax modules they leave without a torch twin resolved against weights' keys
        (module docstring); rules that already fit come back unchanged."""
        flat = flat_tree(template.get("params", template) if set(template) == {"params"} else template)
        shapes = {k: shape_of(v) for k, v in weights.items()}
        leaves: dict[tuple[str, ...], list[str]] = {}
        for path in flat:
            for i in range(len(path)):
                leaves.setdefault(tuple(path[:i]), [])
            leaves[tuple(path[:-1])].append(path[-1])
        fixed: dict[tuple[str, ...], str] = dict(self.paths)
        order = list(dict.fromkeys(k.rsplit(".", 1)[0] for k in weights))  # torch modules, registration order

        def rules_with(extra):
            return Rules(self.renames, self.leaves, self.tied, self.ignored, tuple({**fixed, **extra}.items()))

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

        for module in sorted((m for m in leaves if m), key=len):
            if module in fixed or fits(module, rules_with({}).module_name(module)):
                continue
            parent = rules_with({}).module_name(module[:-1])
            kept = f"{parent}.{module[-1]}" if parent else module[-1]
            if fits(module, kept):
                fixed[module] = kept
        for parent_path in sorted({m[:-1] for m in leaves if m}, key=len):
            unnamed = sorted((m for m in leaves if m and m[:-1] == parent_path and m not in fixed
                              and re.fullmatch(r"[A-Z]\w*_\d+", m[-1])
                              and not fits(m, rules_with({}).module_name(m))),
                             key=lambda m: (m[-1].rsplit("_", 1)[0], int(m[-1].rsplit("_", 1)[1])))
            if not unnamed:
                continue
            parent = rules_with({}).module_name(parent_path)
            prefix = parent + "." if parent else ""
            claimed = {rules_with({}).module_name(m) for m in leaves
                       if m and m[:-1] == parent_path and m not in unnamed}
            children = list(dict.fromkeys(prefix + m[len(prefix):].split(".")[0] for m in order
                                          if m.startswith(prefix) and m != parent))
            for module in unnamed:
                match = next((c for c in children if c not in claimed and fits(module, c)), None)
                if match is not None:
                    fixed[module] = match
                    claimed.add(match)
        return self if tuple(fixed.items()) == self.paths else rules_with({})

    def torch_key(self, path: Sequence[str]) -> tuple[str, Transform]:
        """The torch state_dict key of a Flax parameter path, and the transform between their layouts."""
        module = self.module_name(path[:-1])
        for rule in self.leaves:
            found = rule.apply(path[-1], module)
            if found is not None:
                name, transform = found
                return (f"{module}.{name}" if module else name), transform
        raise WeightMismatchError(f"no rule for the Flax parameter {'/'.join(path)}; known leaves: "
                                  f"{sorted({r.pattern for r in self.leaves})} (add one: leaf(pattern, torch_name, "
                                  f"transform))")

    def is_ignored(self, key: str) -> bool:
        return any(re.fullmatch(p, key) for p in self.ignored)


# Today's behaviour, the rules of every curriculum module (and of most linen/nn pairs):
DEFAULT_RULES = Rules(
    renames=(rename(r"layers_(\d+)", r"\1"),  # a Sequential's layer (ours and flax's): torch index 3
             rename(r"(.+)_(\d+)", r"\1.\2")),  # a list attribute heads_3: nn.ModuleList heads.3
    leaves=(leaf("kernel", "weight", "transpose"),  # Dense (in, out) <-> Linear (out, in)
            leaf("embedding", "weight"),  # Embed <-> Embedding
            leaf("scale", "weight"),  # library LayerNorm
            leaf("bias", "bias"), leaf("gamma", "gamma"), leaf("beta", "beta")),  # the curriculum LayerNorm
)


def flat_tree(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """A nested mapping (a Flax params or intermediates tree) as {path tuple: leaf}."""
    out: dict[tuple[str, ...], Any] = {}
    for name, value in tree.items():
        if isinstance(value, Mapping):
            out.update(flat_tree(value, prefix + (name,)))
        else:
            out[prefix + (name,)] = value
    return out


def shape_of(value: Any) -> Shape:
    return tuple(int(d) for d in (value.shape if hasattr(value, "shape") else np.shape(value)))

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

    def extend(self, *rules: Rename | Leaf, tied: Mapping[str, str] | None = None,
               ignored: Sequence[str] = ()) -> "Rules":
        """These rules first, then self's: `DEFAULT_RULES.extend(rename(r"ln_(\\d+)", r"ln_\\1"),
        tied={"lm_head.weight": "transformer.wte.weight"})`."""
        unknown = [r for r in rules if not isinstance(r, (Rename, Leaf))]
        if unknown:
            raise TypeError(f"expected rename(...) or leaf(...) rules, got {unknown!r}")
        return Rules(renames=tuple(r for r in rules if isinstance(r, Rename)) + self.renames,
                     leaves=tuple(r for r in rules if isinstance(r, Leaf)) + self.leaves,
                     tied=tuple((tied or {}).items()) + self.tied, ignored=tuple(ignored) + self.ignored)

    def __add__(self, other: "Rules") -> "Rules":
        """self's rules first, then other's."""
        return Rules(self.renames + other.renames, self.leaves + other.leaves, self.tied + other.tied,
                     self.ignored + other.ignored)

    def module_name(self, path: Sequence[str]) -> str:
        """The torch submodule name of a Flax module path: ('contextualizer', 'layers_0', 'head') ->
        'contextualizer.0.head'; () -> '' (the root)."""
        parts = []
        for segment in path:
            new = next((r for r in (rule.apply(segment) for rule in self.renames) if r is not None), segment)
            if new:
                parts.append(new)
        return ".".join(parts)

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


def shape_of(value: Any) -> Shape:
    return tuple(int(d) for d in (value.shape if hasattr(value, "shape") else np.shape(value)))

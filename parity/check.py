"""The comparison engine: any torch.nn.Module against any flax.linen or flax.nnx Module, same input, same weights.

    report = compare(torch_model, flax_model, x)   # torch's weights carried to Flax by the rules
    assert report.ok, report                       # str(report) is the table; assert_parity does both

Compared, each against its bound (OUTPUT_BOUND, GRAD_BOUND): the outputs, a loss, the gradient of a seeded
random weighing of the outputs with respect to every parameter and float input, every value a Flax module
sows, and every submodule's output and inputs in torch's execution order, the first layer above the bound
named. Floors (GRAD_FLOOR_EPS), where roundoff meets an analytic zero (a conv bias before BatchNorm): a gradient
also passes when max |diff| <= eps * m * G, G the model's largest |torch gradient|, m the positions its tensor is
shared over (1 unshared). It is a sum of m terms that each framework adds two at a time, in its own order; as
each addition errs by at most eps / 2 of its result, either sum is within eps / 2 * (m - 1) * max |partial sum| of
the exact one to first order (Higham, Accuracy and Stability of Numerical Algorithms, 4.2), the two within
eps * (m - 1) * max |partial sum|; G stands for the partial sums, which the tool does not see. A model of roundoff,
not a proof (a partial sum may exceed G; the terms carry earlier roundoff): the worst case in m, roundings leaning
one way, not the sqrt(m) of roundings that cancel. A layer's output also passes within eps * its largest input.
"""
import copy
import dataclasses
import itertools
import re
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from parity.bridge import (_listed, _plan, abstract_variables, flax_to_torch, is_variables, mapping, torch_state,
                           torch_to_flax)
from parity.errors import ParityError, ParityInputError, WeightMismatchError, first_line
from parity.nnx import is_nnx, nnx_apply, nnx_variables
from parity.rules import DEFAULT_RULES, STACKED, Rules
from parity.trace import bound_arrays, first_array, flax_calls, flax_inputs_sown, sown_values, torch_calls, to_numpy

OUTPUT_BOUND = {"float32": 1e-5, "float64": 1e-10}
GRAD_BOUND = {"float32": 1e-4, "float64": 1e-10}  # float32 relative, float64 absolute
GRAD_RELATIVE = {"float32": True, "float64": False}
GRAD_FLOOR_EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}
DTYPES = ("float32", "float64")
MAX_PAIRINGS = 24  # pairings tried for unnamed modules whose shapes fit several ways
# Torch modules whose arrays are channels first (N, C, *spatial); Flax's twins are channels last (N, *spatial, C).
CHANNELS_FIRST = re.compile(r"(Lazy)?(Conv|ConvTranspose)[123]d|(Lazy|Sync)?BatchNorm[123]?d?|InstanceNorm[123]d|"
                            r"GroupNorm|\w*Pool[123]d|Dropout[123]d|Upsample\w*|Pixel(Un)?[Ss]huffle|"
                            r"LocalResponseNorm|\w+Pad[123]d")
SAME, MOVED = "same", "channels last"


def max_abs_diff(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    both_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    return float(np.max(np.where(both_inf, 0.0, np.abs(a - b))))


def _diffs(got, want) -> tuple[float, float]:
    """max |got - want|, and that divided by max |want| (itself where want is all zeros)."""
    diff = max_abs_diff(got, want)
    scale = float(np.max(np.abs(np.asarray(want, dtype=np.float64)))) if np.size(want) else 0.0
    return diff, diff / scale if scale > 0 else diff


@dataclass
class Row:
    """One compared tensor."""
    component: str
    dtype: str
    tensor: str
    diff: float  # max |diff|, divided by max |reference| when relative
    bound: float
    relative: bool = False
    floor: float = 0.0  # absolute: the row also passes when max |diff| <= floor
    abs_diff: float | None = None  # max |diff| itself (diff, when not relative)

    @property
    def within_floor(self) -> bool:
        a = self.diff if self.abs_diff is None else self.abs_diff
        return self.floor > 0 and bool(np.isfinite(a)) and a <= self.floor

    @property
    def ok(self) -> bool:
        return (bool(np.isfinite(self.diff)) and self.diff <= self.bound) or self.within_floor

    def message(self) -> str:
        a = self.diff if self.abs_diff is None else self.abs_diff
        floor = (f" (max abs diff {a:.3e} {'<=' if self.within_floor else 'above'} the floor {self.floor:.2e})"
                 if self.floor > 0 else "")
        return (f"{self.component} [{self.dtype}] {self.tensor}: max {'relative' if self.relative else 'abs'} diff "
                f"{self.diff:.3e} {'<=' if self.ok else 'exceeds'} bound {self.bound:.0e}{floor}")


@dataclass
class Layer:
    """One submodule call, in torch's execution order: its output (and first input) against its Flax twin's,
    relative to the layer's own scale (max |diff| / max |torch output|): scales inside a network differ by
    orders of magnitude, so an absolute bound would miss a bug in a small layer and flag roundoff in a large one."""
    index: int
    name: str  # the torch module name; '' is the whole model
    kind: str  # the torch class
    bound: float  # on rel
    shape: tuple[int, ...] | None = None  # torch's output shape
    input_rel: float | None = None  # the first input's max |diff| / max |torch input|; None: not compared
    diff: float | None = None  # output max |diff|; None: not compared
    rel: float | None = None  # diff / max |torch output| (diff itself where the torch output is all zeros)
    note: str = ""  # why it was not compared, or how the layouts were matched
    floor: float = 0.0  # absolute: the output also passes when diff <= floor (eps * max |torch input|)
    inputs: str = ""  # which inputs were compared ('hidden_states', 'x/inputs' by position) and which skipped
    path: str = ""  # the Flax twin's module path

    @property
    def compared(self) -> bool:
        return self.diff is not None

    @property
    def output_ok(self) -> bool:
        return not self.compared or (bool(np.isfinite(self.rel)) and self.rel <= self.bound) or (
            self.floor > 0 and bool(np.isfinite(self.diff)) and self.diff <= self.floor)

    @property
    def input_ok(self) -> bool:
        return self.input_rel is None or (bool(np.isfinite(self.input_rel)) and self.input_rel <= self.bound)

    @property
    def ok(self) -> bool:
        """Output and float inputs (matched to the twin's by name, else by position) within the bound."""
        return self.output_ok and self.input_ok

    @property
    def label(self) -> str:
        return self.name or "(model)"


@dataclass
class Report:
    """Every row of one comparison, the layer table and parameter counts; str() is the printable report."""
    component: str
    dtype: str
    rows: list[Row] = field(default_factory=list)
    torch_params: int = 0
    flax_params: int = 0
    layers: list[Layer] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # failures that are not a number (a missing gradient)
    notes: list[str] = field(default_factory=list)  # what was not compared, and why
    causes: list[str] = field(default_factory=list)  # known mismatches that fit the first divergence
    mapping: list[tuple[str, str, str]] = field(default_factory=list)  # (torch key, Flax path, transform)
    rules: Any = field(default=None, repr=False)  # the rules as bound for this pair (the pairing found), to reuse
    plan: list = field(default_factory=list, repr=False)  # (collection, Piece) of every carried tensor

    def add(self, tensor: str, got, want, bound: float, relative: bool = False, floor: float = 0.0) -> None:
        abs_diff, rel = _diffs(got, want)
        self.rows.append(Row(self.component, self.dtype, tensor, rel if relative else abs_diff, bound, relative, floor,
                             abs_diff))

    def mapping_table(self) -> str:
        """Every torch key, the Flax path it was carried to and the transform between them."""
        if not self.mapping:
            return "weights: none carried by the rules (variables given)"
        width, pw = (max(len(row[i]) for row in self.mapping) for i in (0, 1))
        lines = [f"weights carried by the rules ({len(self.mapping)} tensors): torch key -> Flax path (transform)"]
        lines += [f"  {k:<{width}}  ->  {p:<{pw}}  ({t})" for k, p, t in self.mapping]
        return "\n".join(lines)

    def layer_detail(self) -> str:
        """Per layer: its Flax twin's path and the inputs compared (by name or position) or skipped."""
        lw = max([len(layer.label) for layer in self.layers] + [5])
        pw = max([len(layer.path) for layer in self.layers] + [9])
        lines = [f"  {'#':>3}  {'layer':<{lw}}  {'Flax twin':<{pw}}  inputs"]
        lines += [f"  {layer.index:>3}  {layer.label:<{lw}}  {layer.path or '-':<{pw}}  {layer.inputs or '-'}"
                  for layer in self.layers]
        return "\n".join(lines)

    @property
    def ok(self) -> bool:
        return (all(r.ok for r in self.rows) and all(layer.ok for layer in self.layers) and not self.problems
                and self.torch_params == self.flax_params)

    @property
    def first_divergence(self) -> Layer | None:
        """The first submodule, in execution order, whose input or output is above the bound."""
        return next((layer for layer in self.layers if not layer.ok), None)

    def failures(self) -> list[str]:
        out = [r.message() for r in self.rows if not r.ok]
        out += [f"{self.component} [{self.dtype}] {p}" for p in self.problems]
        if self.first_divergence is not None:
            out.append(f"{self.component} [{self.dtype}] {self.verdict()}")
        if self.torch_params != self.flax_params:
            out.append(f"{self.component}: parameter counts differ, torch {self.torch_params} "
                       f"vs flax {self.flax_params}")
        return out

    def verdict(self) -> str:
        """One sentence: where the two runs part, and whether inside that layer or before it."""
        first = self.first_divergence
        if first is None:
            return "no layer's input or output is above the bound"
        head = (f"first divergence: layer {first.index}, {first.label} ({first.kind}), bound {first.bound:.0e} "
                f"relative: output {first.rel:.2e} (max abs {first.diff:.2e})")
        if first.input_rel is None:
            return head + "; its input was not compared"
        if first.input_ok:
            return (head + f", while its input agrees ({first.input_rel:.2e}): the difference is made inside this "
                           f"layer (its weights, their layout, or its arithmetic)")
        before = self.layers[:self.layers.index(first)]
        agreeing = [i for i, layer in enumerate(before) if layer.compared and layer.ok]
        text = head + f"; its input already differs ({first.input_rel:.2e}): the difference entered before it"
        if agreeing:
            last_ok, between = before[agreeing[-1]], [b for b in before[agreeing[-1] + 1:] if not b.compared]
            text += f", after layer {last_ok.index}, {last_ok.label} (the last that agrees)"
            if between:
                text += "; in between ran, without a Flax twin: " + ", ".join(f"{b.label} ({b.kind})" for b in between)
        return text

    def table(self) -> str:
        lines = [f"parity of {self.component} [{self.dtype}]: {'pass' if self.ok else 'FAIL'}"]
        grads = [r for r in self.rows if r.tensor.startswith("grad[")]
        outs = [r for r in self.rows if not r.tensor.startswith("grad[")]
        g_floor = min((r.floor for r in grads), default=0.0)
        bounds = ([f"outputs max abs diff <= {outs[0].bound:.0e}"] if outs else []) + (
            [f"layers max abs diff / max abs torch output <= {self.layers[0].bound:.0e}"] if self.layers else [])
        bounds += [f"gradients <= {grads[0].bound:.0e} " + ("relative (max abs diff / max abs torch gradient)"
                                                           if grads[0].relative else "max abs")
                   + (f", or max abs diff <= {g_floor:.2e} (eps * largest torch gradient) * positions the "
                      f"tensor is shared over" if g_floor > 0 else "")] if grads else []
        if bounds:
            lines.append("bounds: " + "; ".join(bounds))
        shown = list(outs)
        if grads:  # the largest gradient difference judged by the bound, every one above it, every floored one
            judged = [r for r in grads if not (r.within_floor and r.diff > r.bound)] or grads
            worst = max(judged, key=lambda r: r.diff if np.isfinite(r.diff) else np.inf)
            shown += [r for r in grads if r is worst or not r.ok or (r.within_floor and r.diff > r.bound)]
        width = max([len(r.tensor) for r in shown] + [6])
        lines.append(f"  {'tensor':<{width}}  {'max diff':>9}  {'bound':>6}  result")
        for r in shown:
            tail = f"  (largest of {len(grads)} gradients)" if grads and r is worst else ""
            floor = (f" (max abs {r.abs_diff:.2e} within the floor)" if r.within_floor and r.relative
                     and r.diff > r.bound else "")
            lines.append(f"  {r.tensor:<{width}}  {r.diff:9.2e}  {r.bound:6.0e}  {'ok' if r.ok else 'FAIL'}"
                         f"{' relative' if r.relative else ''}{floor}{tail}")
        if self.layers:
            first = self.first_divergence
            lw = max([len(layer.label) for layer in self.layers] + [5])
            kw = max([len(layer.kind) for layer in self.layers] + [4])
            lines.append("layers in execution order (torch forward hooks; Flax capture_intermediates); |torch - flax| "
                         "of the first input (relative) and of the output (max abs, relative):")
            lines.append(f"  {'#':>3}  {'layer':<{lw}}  {'type':<{kw}}  {'output shape':<14}  {'input rel':>9}  "
                         f"{'out abs':>9}  {'out rel':>9}  result")
            for layer in self.layers:
                result = layer.note if not layer.compared else (
                    ("ok" if layer.ok else "FAIL" if not layer.output_ok else "FAIL (input)")
                    + (f" ({layer.note})" if layer.note else "") + ("  <-- first divergence" if layer is first else ""))
                cells = "  ".join(f"{v:9.2e}" if v is not None else f"{'-':>9}"
                                  for v in (layer.input_rel, layer.diff, layer.rel))
                shape = str(layer.shape) if layer.shape is not None else "-"
                lines.append(f"  {layer.index:>3}  {layer.label:<{lw}}  {layer.kind:<{kw}}  {shape:<14}  {cells}  "
                             f"{result}")
            lines.append(self.verdict())
        lines += [f"likely cause: {c}" for c in self.causes]
        lines += self.problems + self.notes
        lines.append(f"parameters: torch {self.torch_params:,}, flax {self.flax_params:,}"
                     f"{'' if self.torch_params == self.flax_params else '  FAIL: the counts differ'}")
        return "\n".join(lines)

    __str__ = table


def _dtype_of(torch_module, arrays: Sequence[np.ndarray]) -> str:
    for p in list(torch_module.parameters()) + list(torch_module.buffers()):
        if p.dtype.is_floating_point:
            return str(p.dtype).replace("torch.", "")
    return next((str(a.dtype) for a in arrays if a.dtype.kind == "f"), "float32")


def _leaves(value, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Every array in a module's output, by name: a lone array is 'output', a tuple's items 'output[i]' (or
    names[i]), a dict's, ModelOutput's, dataclass's or named tuple's by key or field ('hidden_states[0]'
    inside); None and other objects are left out."""
    out: dict[str, Any] = {}

    def walk(v, prefix):
        if v is None or isinstance(v, (str, bytes)):
            return
        fields = ({f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
                  if dataclasses.is_dataclass(v) and not isinstance(v, type) else
                  dict(zip(v._fields, v)) if isinstance(v, tuple) and hasattr(v, "_fields") else  # a named tuple
                  v if isinstance(v, Mapping) else None)
        if hasattr(v, "shape") and hasattr(v, "dtype"):
            out[prefix] = v
        elif fields is not None:
            for k, item in fields.items():
                walk(item, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(v, (tuple, list)):
            for i, item in enumerate(v):
                walk(item, names[i] if names is not None and not prefix and i < len(names) else
                     f"{prefix or 'output'}[{i}]")

    walk(value, names[0] if names is not None and not isinstance(value, (tuple, list)) else "")
    if "" in out:
        out["output"] = out.pop("")
    return out


def _cross_entropy_torch(logits, targets):
    import torch.nn.functional as F
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def _cross_entropy_flax(logits, targets):
    import jax
    import jax.numpy as jnp
    logp = jax.nn.log_softmax(logits.reshape(-1, logits.shape[-1]), axis=-1)  # (N, V)
    return -jnp.mean(jnp.take_along_axis(logp, targets.reshape(-1, 1), axis=-1))  # (N, 1) -> ()


LOSSES = {"cross_entropy": (_cross_entropy_torch, _cross_entropy_flax)}


@dataclass
class Layouts:
    """How each compared array of rank >= 3 lies in Flax against torch: SAME, or MOVED (torch's (N, C, ...) is
    Flax's (N, ..., C)), as declared (compare's `layout`, `layouts`) or as what was carried shows (a convolution
    kernel, the CHANNELS_FIRST layers: MOVED; a Linear: SAME; else the submodules' when they agree). Never from
    the shapes alone: where nothing decides and both layouts fit, the array is not compared, and the row says so."""
    evidence: dict[str, dict[int, str]] = field(default_factory=dict)  # torch module -> {rank: layout}
    declared: dict[str, str] = field(default_factory=dict)  # pattern of torch module names -> layout
    model: tuple[str, str] | None = None  # compare's `layout` of the inputs, e.g. ('NCHW', 'NHWC')
    model_out: tuple[str, str] | None = None  # ... and of the outputs

    def add(self, module: str, rank: int, how: str) -> None:
        if rank >= 3:
            self.evidence.setdefault(module, {}).setdefault(rank, how)

    def io(self, rank: int, output: bool = False) -> str:
        """The model's own inputs and outputs: as given to both, unless `layout` declares their ranks."""
        pair = self.model_out if output else self.model
        return MOVED if pair and rank == len(pair[0]) and pair[0] != pair[1] else SAME

    def of(self, module: str, rank: int) -> str | None:
        if rank < 3:
            return SAME
        for pattern, how in self.declared.items():
            if re.fullmatch(pattern, module):
                return how
        if rank in self.evidence.get(module, {}):
            return self.evidence[module][rank]
        inside = {e[rank] for name, e in self.evidence.items() if rank in e
                  and (not module or name.startswith(module + "."))}
        if len(inside) == 1:
            return inside.pop()
        if self.model and rank == len(self.model[0]):
            return self.io(rank)
        if not any(MOVED in e.values() for e in self.evidence.values()):
            return SAME  # no channels-first layer anywhere: every array lies alike
        return None


def _evidence(out: Layouts, torch_module, plan, calls) -> Layouts:
    """out, with what the carried kernels and the layers that ran show of each module's layout."""
    params = dict(torch_module.named_parameters())
    for _, piece in plan:  # a kernel carried by the kernel transform: its window axes first in Flax
        if piece.path and piece.path[-1] == "kernel" and piece.transform.axes == () and not piece.transform.permuted:
            out.add(piece.key.rsplit(".", 1)[0] if "." in piece.key else "",
                    len(params.get(piece.key, np.zeros((1, 1))).shape), MOVED)
    for call in calls:
        ranks = {a.ndim for a in [call.input, call.output] + list((call.inputs or {}).values()) if a is not None}
        how = (MOVED if CHANNELS_FIRST.fullmatch(call.kind) else
               SAME if call.kind in ("Linear", "LayerNorm", "Embedding", "RMSNorm", "MultiheadAttention") else None)
        for rank in ranks if how else ():
            out.add(call.name.split("#")[0], rank, how)
    return out


def _fit(want: np.ndarray, got: np.ndarray, how: str | None = SAME) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(torch's array, its Flax twin's) in one layout, and how: the layout given, the one the shapes fit
    ('by shape'), or one side broadcast (a position table (1, T, C)); None where nothing fits, or where both
    layouts fit and none was given."""
    moved = np.moveaxis(want, 1, -1) if want.ndim >= 3 else None
    fits = {SAME: want.shape == got.shape, MOVED: moved is not None and moved.shape == got.shape}
    if how is not None and fits[how]:
        return (want if how == SAME else moved), got, ("" if how == SAME else MOVED)
    if sum(fits.values()) == 1:
        chosen = SAME if fits[SAME] else MOVED
        return (want if chosen == SAME else moved), got, f"{chosen}, by shape"
    if all(fits.values()):
        return None
    if want.ndim == got.ndim:
        try:
            shape = np.broadcast_shapes(want.shape, got.shape)
        except ValueError:
            return None
        if shape == got.shape:
            return np.broadcast_to(want, shape), got, f"torch's {tuple(want.shape)} broadcast"
        if shape == want.shape:
            return want, np.broadcast_to(got, shape), f"Flax's {tuple(got.shape)} broadcast"
    return None


def _not_fitted(want, got, how) -> str:
    if how is None and want.ndim >= 3 and want.shape == got.shape == np.moveaxis(want, 1, -1).shape:
        return (f"not compared: its layout is undecided (shape {tuple(want.shape)} fits channels first and last; "
                f"declare it: layouts={{name: 'channels_last' or 'same'}})")
    return f"not compared: shapes {tuple(want.shape)} vs Flax {tuple(got.shape)}"


def _finite_scale(arrays) -> float:
    """The largest finite |value| over arrays (0 for none)."""
    finite = [a[np.isfinite(a)] for a in (np.abs(np.asarray(a, dtype=np.float64)) for a in arrays)]
    return max((float(a.max()) for a in finite if a.size), default=0.0)


def _skipped_input(name: str, value: np.ndarray) -> bool:
    """Integer, boolean and mask arguments are not activations: never compared as a layer's input."""
    return value.dtype.kind not in "fc" or "mask" in name.lower()


def _compare_inputs(layer: Layer, call, twin: Mapping[str, Any], layouts: Layouts) -> float | None:
    """The largest relative difference over the float inputs the two calls share (by argument name, else by
    position); None when none is shared. Records in layer.inputs what was compared and what skipped."""
    t_all, f_all = call.inputs or {}, twin.get("inputs") or {}
    if not t_all and not f_all:  # nothing bound by name (an input inside a tuple): the first arrays
        t_all = {"input": call.input} if call.input is not None else {}
        f_all = {"input": twin["input"]} if twin.get("input") is not None else {}
    t_in = {k: v for k, v in t_all.items() if not _skipped_input(k, v)}
    f_in = {k: v for k, v in f_all.items() if not _skipped_input(k, v)}
    shared = [(k, t_in[k], f_in[k]) for k in t_in if k in f_in]
    if not shared:
        shared = [(k if k == j else f"{k}/{j}", t_in[k], f_in[j]) for k, j in zip(t_in, f_in)]
    skipped = sorted({k for k in t_all if k not in t_in} | {k for k in f_all if k not in f_in})
    rels, words = [], []
    for name, want, got in shared:
        how = layouts.io(want.ndim) if not call.name else layouts.of(call.name.split("#")[0], want.ndim)
        fitted = _fit(want, got, how)
        if fitted is None:
            words.append(f"{name} {_not_fitted(want, got, how)}")
            continue
        want, got, note = fitted
        rels.append(_diffs(got, want)[1])
        words.append(name + (f" ({note})" if note else ""))
    layer.inputs = "; ".join(part for part in (", ".join(words), "skipped " + ", ".join(skipped) if skipped else "")
                             if part)
    return max(rels, key=lambda r: r if np.isfinite(r) else np.inf) if rels else None


def _layer(index: int, call, twin: dict | None, bound: float, eps: float, layouts: Layouts) -> Layer:
    layer = Layer(index, call.name, call.kind, bound, shape=None if call.output is None else tuple(call.output.shape),
                  path=(twin or {}).get("path", ""))
    got, want = (twin or {}).get("output"), call.output
    if twin is None or got is None or want is None:
        layer.note = "no Flax twin" if twin is None else "no output array"
        return layer
    how = layouts.io(want.ndim, True) if not call.name else layouts.of(call.name.split("#")[0], want.ndim)
    fitted = _fit(want, got, how)
    if fitted is None:
        layer.note = _not_fitted(want, got, how)
        return layer
    want, got, layer.note = fitted
    layer.diff, layer.rel = _diffs(got, want)
    layer.input_rel = _compare_inputs(layer, call, twin, layouts)
    layer.floor = eps * _finite_scale(v for k, v in (call.inputs or {}).items() if not _skipped_input(k, v))
    return layer


def _check_modules(torch_module, flax_module, inputs) -> None:
    """compare's arguments, each refused in one line where it is not what compare takes."""
    import torch
    def what(m):
        return f"the class {m.__name__}" if isinstance(m, type) else f"a {type(m).__name__}"

    linen = any(c.__module__.startswith("flax.linen") and c.__name__ == "Module" for c in type(flax_module).__mro__)
    if isinstance(flax_module, torch.nn.Module) and (is_nnx(torch_module) or hasattr(torch_module, "apply")):
        raise ParityInputError("the modules are swapped: the torch module comes first, then the Flax one")
    for which, m, ok, expected in (("first", torch_module, isinstance(torch_module, torch.nn.Module),
                                    "torch.nn.Module"), ("second", flax_module, linen or is_nnx(flax_module),
                                                         "flax.linen.Module or flax.nnx.Module")):
        if not ok:
            raise ParityInputError(f"the {which} module is {what(m)}; expected a {expected} instance"
                                   + (" (call the class to build one)" if isinstance(m, type) else ""))
    for value in (inputs.values() if isinstance(inputs, Mapping) else
                  inputs if isinstance(inputs, (tuple, list)) else [inputs]):
        if value is None or isinstance(value, (str, bytes)) or np.asarray(value).dtype == object:
            raise ParityInputError(f"an input is {what(value) if value is not None else 'None'}; expected arrays "
                                   f"(one, a tuple, or a dict of keyword arguments)")


def _state_rows(report, t_before, t_after, f_after, calls, torch_module, bounds, out_bound) -> None:
    """Train mode: the statistics each side updated, in torch's layout; torch's running variance update redone
    with the biased batch variance, Flax's convention (n the values per channel)."""
    import torch
    sizes = {c.name.split("#")[0]: c.input.size // c.input.shape[1] for c in reversed(calls)  # each module's first
             if c.input is not None and c.input.ndim >= 2}
    modules = dict(torch_module.named_modules())
    changed = False
    for key in sorted(k for k in f_after if k in t_after and k in t_before):
        module_name, _, leaf_name = key.rpartition(".")
        want, got, old = (np.asarray(d[key], np.float64) for d in (t_after, f_after, t_before))
        changed = changed or not np.array_equal(want, old)
        module, n = modules.get(module_name), sizes.get(module_name)
        momentum = getattr(module, "momentum", None)
        if leaf_name == "running_var" and isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and n and n > 1 \
                and momentum:
            batch = (want - (1 - momentum) * old) / momentum * (n - 1) / n
            want = (1 - momentum) * old + momentum * batch
            if not any("unbiased" in note for note in report.notes):
                report.notes.append("running_var compared with torch's update redone with the biased batch variance, "
                                    "Flax's convention (torch updates with the unbiased: n / (n - 1) larger)")
        bound, floor = bounds(f"state[{key}]", out_bound, 0.0)
        report.add(f"state[{key}]", got, want, bound, True, floor)
        if not report.rows[-1].ok and momentum and leaf_name in ("running_mean", "running_var") and not any(
                f"convention at {module_name}." in c for c in report.causes):
            from parity.causes import momentum_convention
            report.causes += momentum_convention(key, old, np.asarray(t_after[key], np.float64), got, momentum,
                                                 n if leaf_name == "running_var" else None)
    if changed and all(np.array_equal(np.asarray(f_after[k]), np.asarray(t_before[k])) for k in f_after
                       if k in t_before):
        report.problems.append("in train mode torch updated its running statistics and the Flax module did not: "
                               "call it in train mode (flax_kwargs={'use_running_average': False}, or its own "
                               "train flag)")


def compare(torch_module, flax_module, inputs, *, variables: Mapping[str, Any] | None = None,
            rules: Rules = DEFAULT_RULES, torch_kwargs: Mapping[str, Any] | None = None,
            flax_kwargs: Mapping[str, Any] | None = None, output_names: Sequence[str] | None = None,
            loss: str | tuple[Callable, Callable] | None = None, targets=None, weights: Mapping[str, Any] | None = None,
            seed: int = 0, dtype: str | None = None, output_bound: float | None = None, grad_bound: float | None = None,
            layer_bound: float | None = None, layers: bool = True, name: str | None = None,
            overrides: Mapping[str, float | tuple[float, float]] | None = None, exclude_layers: Sequence[str] = (),
            pair_layers: Mapping[str, str] | None = None, layout: tuple[str, str] | None = None,
            layouts: Mapping[str, str] | None = None, train: bool = False, train_steps: int = 0, **training) -> Report:
    """Run torch_module and flax_module on the same inputs and compare everything (module docstring).

    inputs: one numpy array, a tuple (positional) or a dict (keywords); floats cast to dtype (default the torch
    module's), integers kept; torch_kwargs / flax_kwargs go to one side only. variables: the Flax variables (or
    params); None carries torch's state_dict over by `rules`. loss: 'cross_entropy' or (torch_fn, flax_fn), each
    (first output, targets) -> scalar. weights: output name -> its weight in the gradient scalar. Bounds default
    to the dtype's; layer_bound to the output bound; overrides: {pattern matched whole against a row's name
    ('grad[KEY]'): bound or (bound, floor)}. torch runs in eval mode (restored after), NNX on a copy.
    layers=False skips the layer table; exclude_layers: patterns of torch module names left out of it;
    pair_layers: {torch module name: Flax path 'a/b'}. layout: the model's (torch, Flax) layouts, e.g. ('NCHW',
    'NHWC'), the Flax side given the inputs moved; layouts: {pattern of torch module names: 'channels_last' or
    'same'} (class Layouts). train: both in train mode, the updated statistics compared too (refused with dropout
    active). train_steps > 0: a training trajectory instead (parity.train).
    """
    if train_steps:
        return _trajectory(torch_module, flax_module, inputs, train_steps, rules, dtype, variables,
                           {**training, **({"loss": loss} if loss is not None else {})})
    if training:
        raise ParityInputError(f"unknown keyword{'s' if len(training) > 1 else ''} {', '.join(sorted(training))}")
    import jax
    import jax.numpy as jnp
    import torch
    _check_modules(torch_module, flax_module, inputs)
    if not isinstance(rules, Rules):
        raise ParityInputError(f"rules is {type(rules).__name__} {rules!r}; expected a parity.rules.Rules "
                               f"(e.g. DEFAULT_RULES.extend(...))")
    found = _layout_pairs(layout, layouts)
    names = list(inputs) if isinstance(inputs, Mapping) else None
    values = list(inputs.values()) if names else list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    arrays = [np.asarray(x) for x in values]
    dtype = dtype or _dtype_of(torch_module, arrays)
    if dtype not in OUTPUT_BOUND and (output_bound is None or grad_bound is None):
        raise ValueError(f"no default bounds for dtype {dtype!r}; expected one of {DTYPES}, or pass output_bound "
                         f"and grad_bound")
    report = Report(name or f"{type(torch_module).__name__} vs {type(flax_module).__name__}", dtype)
    own = _dtype_of(torch_module, [])
    if any(p.dtype.is_floating_point for p in torch_module.parameters()) and own != dtype:
        torch_module = copy.deepcopy(torch_module).to(getattr(torch, dtype))
        report.notes.append(f"the torch module ({own}) ran as a {dtype} copy")
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    floats = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]  # inputs whose gradient is compared
    out_bound = OUTPUT_BOUND[dtype] if output_bound is None else output_bound
    g_bound = GRAD_BOUND[dtype] if grad_bound is None else grad_bound
    relative = GRAD_RELATIVE.get(dtype, False)
    torch_kwargs, flax_kwargs = dict(torch_kwargs or {}), dict(flax_kwargs or {})
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)} or (torch_fn, flax_fn)")
        loss = LOSSES[loss]
    if loss is not None and targets is None:
        raise ValueError("a loss needs targets")
    overrides = dict(overrides or {})
    for pattern in list(overrides) + list(exclude_layers) + list(layouts or {}):
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"pattern {pattern!r} is not a regular expression ({err})") from None
    if train:
        active = [f"{n} (p={m.p})" for n, m in torch_module.named_modules()
                  if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0]
        if active:
            raise ParityInputError(f"train mode cannot be compared with dropout active ({', '.join(active[:3])}): "
                                   f"the frameworks draw different masks; set p=0 for the check, or compare eval mode")
    elif any(isinstance(m, (torch.nn.modules.dropout._DropoutNd, torch.nn.modules.batchnorm._BatchNorm))
             and m.training for m in torch_module.modules()) or (is_nnx(flax_module) and _nnx_training(flax_module)):
        report.notes.append("compared in eval mode (torch .eval(), NNX .eval()); train=True compares train mode")
    rng = np.random.default_rng(seed)
    drawn: dict[str, np.ndarray] = {}

    def weight(key, shape):  # an output's weight in the gradient scalar: given, else drawn once for both sides
        if key not in drawn:
            w = (weights or {}).get(key)
            drawn[key] = np.asarray(rng.standard_normal(shape) if w is None else w).astype(dtype)
        return drawn[key]

    # torch: forward with every submodule call recorded, then the gradient of the scalar
    was_training = torch_module.training
    state = torch_state(torch_module)  # before the forward: train mode updates the statistics
    torch_module.train(train)
    torch_order: list[str] = []
    try:
        t_inputs = [torch.tensor(a, requires_grad=i in floats) for i, a in enumerate(arrays)]
        with torch_calls(torch_module, torch_order) if layers or train else nullcontext([]) as calls:
            raw = (torch_module(**dict(zip(names, t_inputs)), **torch_kwargs) if names else
                   torch_module(*t_inputs, **torch_kwargs))
            t_out = _leaves(raw, output_names)
        t_after = torch_state(torch_module)
        terms = [(v * torch.as_tensor(weight(k, tuple(v.shape)))).sum() for k, v in t_out.items()
                 if v.dtype.is_floating_point]
        t_loss = None if loss is None else loss[0](next(iter(t_out.values())), torch.as_tensor(np.asarray(targets)))
        terms += [] if t_loss is None else [t_loss]
        wrt = {k: p for k, p in torch_module.named_parameters() if p.requires_grad}
        wrt |= {_input_name(names, floats, i): t_inputs[i] for i in floats}
        differentiate, t_grads = bool(terms and wrt), {}
        if differentiate:
            grads = torch.autograd.grad(sum(terms[1:], terms[0]), list(wrt.values()), allow_unused=True)
            t_grads = {k: to_numpy(torch.zeros_like(x) if g is None else g) for (k, x), g in zip(wrt.items(), grads)}
        else:
            report.notes.append("gradients not compared: " + ("no float output and no loss" if not terms else
                                                              "no parameter and no float input"))
        report.torch_params = sum(p.numel() for p in torch_module.parameters())
    finally:
        if train:
            torch_module.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=False)
        torch_module.train(was_training)
    dropped = sorted(k for k in state if rules.is_ignored(k))
    if dropped and variables is None:
        report.notes.append(f"not carried (no Flax twin, by the rules): {', '.join(_listed(dropped, shown=8))}")

    # Flax: the same, in one pass (op by op: at these sizes dispatch is cheaper than compiling)
    with jax.enable_x64(dtype == "float64"):
        f_arrays = [np.moveaxis(a, 1, -1) if found.io(a.ndim) == MOVED and a.dtype.kind == "f"
                    else a for a in arrays]
        f_inputs = [jnp.asarray(a) for a in f_arrays]
        plan: list = []
        if variables is not None and "params" not in variables:
            variables = {"params": variables}
        flax_order: list = []
        with _flax_explained(train):
            template = (nnx_variables(flax_module) if is_nnx(flax_module) else
                        abstract_variables(flax_module, *([] if names else f_inputs), order=flax_order,
                                           **(dict(zip(names, f_inputs)) if names else {}), **flax_kwargs))
        given = variables is not None
        try:
            rules = rules.bind(variables or template, state, flax_order, torch_order)
        except WeightMismatchError:
            if not given:
                raise
        if not given:  # carry torch's weights: what a port check wants
            report.mapping = mapping(template, rules)
            report.notes += [f"paired: {line}" for line in rules.said]
            try:
                variables = torch_to_flax(state, template if is_variables(template) else {"params": template}, rules)
            except WeightMismatchError as err:
                if found.model is None and any(isinstance(m, torch.nn.modules.conv._ConvNd)
                                                    for m in torch_module.modules()):
                    raise WeightMismatchError(f"{err}; the Flax model was built on the inputs as given, channels "
                                              f"first: a port that takes channels last needs the layouts declared "
                                              f"(layout=('NCHW', 'NHWC'), --layout NCHW:NHWC)") from None
                raise
            plan = _plan(variables, rules)
        variables = jax.tree_util.tree_map(jnp.asarray, dict(variables))
        report.flax_params = sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(variables["params"]))
        mutable = ["intermediates"] + (["batch_stats"] if train and "batch_stats" in variables else [])

        def run(params, args, layers=layers, using=None):
            values, by_name = {**(using or variables), "params": params}, dict(zip(names or [], args))
            if is_nnx(flax_module):
                return nnx_apply(flax_module, values, () if names else tuple(args), {**flax_kwargs, **by_name}, layers,
                                 train)
            with flax_inputs_sown() if layers else nullcontext(), _flax_explained(train):
                return flax_module.apply(values, *([] if names else args), **by_name, **flax_kwargs,
                                         capture_intermediates=layers, mutable=mutable)

        if rules.ambiguous and plan:
            variables, rules, plan = _try_pairings(report, rules, state, variables, run, f_inputs, t_out,
                                                   output_names, out_bound, found)

        def scalar_fn(params, *float_inputs):
            raw, new_state = run(params, [dict(zip(floats, float_inputs)).get(i, a) for i, a in enumerate(f_inputs)])
            out = _leaves(raw, output_names)
            terms = []
            for k, v in out.items():  # each output weighed in torch's layout
                if jnp.issubdtype(v.dtype, jnp.floating):
                    v = jnp.moveaxis(v, -1, 1) if found.io(v.ndim, True) == MOVED else v
                    if k not in drawn or drawn[k].shape == v.shape:  # (another shape than torch's: a failed row)
                        terms.append((v * jnp.asarray(weight(k, tuple(v.shape)))).sum())
            f_loss = None if loss is None else loss[1](next(iter(out.values())), jnp.asarray(np.asarray(targets)))
            terms += [] if f_loss is None else [f_loss]
            return sum(terms[1:], terms[0]) if terms else jnp.zeros(()), (out, f_loss, new_state)

        args = (variables["params"], *[f_inputs[i] for i in floats])
        g = {}
        with _flax_explained(train):
            if differentiate:
                (_, (f_out, f_loss, f_state)), f_grads = jax.value_and_grad(scalar_fn, tuple(range(len(args))),
                                                                            has_aux=True)(*args)
                g = flax_to_torch(f_grads[0], rules, tied=False, gradients=True)
                g |= {_input_name(names, floats, i): np.asarray(grad) if f_arrays[i] is arrays[i] else
                      np.moveaxis(np.asarray(grad), -1, 1) for i, grad in zip(floats, f_grads[1:])}
            else:
                _, (f_out, f_loss, f_state) = scalar_fn(*args)
        f_out = {k: np.asarray(v) for k, v in f_out.items()}
        f_loss = None if f_loss is None else np.asarray(f_loss)
        inter = jax.tree_util.tree_map(np.asarray, f_state.get("intermediates", {}))
        f_stats = jax.tree_util.tree_map(np.asarray, f_state.get("batch_stats", {}))

    def bounds(row: str, bound: float, floor: float) -> tuple[float, float]:
        for pattern, given in overrides.items():
            if re.fullmatch(pattern, row):
                return (float(given), 0.0) if np.isscalar(given) else (float(given[0]), float(given[1]))
        return bound, floor

    # outputs, the loss, gradients
    for key, value in t_out.items():
        if key not in f_out:
            report.notes.append(f"output {key!r} exists in torch only (Flax gave {sorted(f_out)}): not compared")
            continue
        want = to_numpy(value)
        fitted = _fit(want, f_out[key], found.io(want.ndim, True))
        if fitted is None:
            report.problems.append(f"output {key!r}: torch's has shape {tuple(want.shape)}, Flax's "
                                   f"{tuple(f_out[key].shape)}: the outputs differ in shape")
            continue
        report.add(key, fitted[1], fitted[0], *bounds(key, out_bound, 0.0))
    report.notes += [f"output {k!r} exists in Flax only: not compared" for k in f_out if k not in t_out]
    if not t_out and not f_out:
        report.problems.append("no output was compared: neither module returned an array (in a tuple, dict, "
                               "dataclass or named tuple)")
    elif not report.rows and not any("differ in shape" in p for p in report.problems):
        report.problems.append(f"no output was compared: torch gave {sorted(t_out)}, Flax gave {sorted(f_out)}: "
                               f"name them alike (output_names=...)")
    if loss is not None:
        report.add("loss", f_loss, to_numpy(t_loss), *bounds("loss", out_bound, 0.0))
    g_floor = GRAD_FLOOR_EPS.get(dtype, 0.0) * _finite_scale(t_grads.values())
    positions = {  # torch module -> the positions m its weights are shared over (batch rows, pixels), first call
        c.name.split("#")[0]: c.output.size // max(c.output.shape[1 if CHANNELS_FIRST.fullmatch(c.kind) and
                                                                   c.output.ndim >= 3 else -1], 1)
        for c in reversed(calls) if c.output is not None and c.output.ndim >= 2}
    untwinned = {p.key: p.rows for _, p in plan if p.path is None}
    for key in sorted(set(t_grads) | set(g)):
        if key not in t_grads or key not in g:
            report.problems.append(f"gradient {key!r} exists in {'torch' if key in t_grads else 'Flax'} only")
            continue
        want, got = t_grads[key], g[key]
        if key in untwinned:  # rows no Flax leaf holds: no gradient to compare
            keep = np.ones(len(want), bool)
            keep[untwinned[key][0]:untwinned[key][1]] = False
            want, got = want[keep], got[keep]
            report.notes.append(f"grad[{key}] rows {untwinned[key][0]}:{untwinned[key][1]}: no Flax twin, not compared")
        shared = positions.get(key.rsplit(".", 1)[0] if "." in key else "", 1) if key in state else 1
        bound, floor = bounds(f"grad[{key}]", g_bound, g_floor * float(shared))
        report.add(f"grad[{key}]", got, want, bound, relative, floor)
    merged = sum(int(np.prod((p.rows[1] - p.rows[0],) + np.shape(state[p.key])[1:])) for _, p in plan
                 if (not p.primary or p.path is None) and p.key in state and p.rows is not None)
    merged += sum(int(np.size(state[p.key])) for _, p in plan if not p.primary and p.rows is None and p.key in state)
    if merged and report.torch_params - merged == report.flax_params:
        report.notes.append(f"parameters: {merged:,} torch values are summed into Flax's or held by none "
                            f"(packed rules), so the counts differ by them")
        report.flax_params += merged
    if train and f_stats:
        f_torch = flax_to_torch({"params": jax.tree_util.tree_map(np.asarray, variables["params"]),
                                 "batch_stats": f_stats}, rules, tied=False)
        _state_rows(report, state, t_after, {k: v for k, v in f_torch.items() if k not in t_grads},
                    calls, torch_module, bounds, out_bound)

    # every value a Flax module sowed, against the attribute of the same name on its torch twin
    for module_name, attr, value in sown_values(inter, rules):
        label = f"{module_name}.{attr}" if module_name else attr
        try:
            twin = torch_module.get_submodule(module_name) if module_name else torch_module
        except AttributeError:
            report.notes.append(f"sown {label}: no torch module {module_name!r}; not compared")
            continue
        want = getattr(twin, attr, None)
        if want is None:
            report.notes.append(f"sown {label}: torch {type(twin).__name__} has no attribute {attr!r}; not compared")
            continue
        report.add(label, value, to_numpy(want), *bounds(label, out_bound, 0.0))

    report.rules, report.plan = rules, plan
    # the layer table: every torch call, in execution order, against its Flax twin's
    if layers:
        twins = flax_calls(inter, rules, {path: name for name, path in (pair_layers or {}).items()})
        with jax.enable_x64(dtype == "float64"):
            report.notes += _stacked_layers(flax_module, variables, rules, twins, f_inputs, names, flax_kwargs)
        l_bound = out_bound if layer_bound is None else layer_bound
        eps = float(np.finfo(dtype).eps) if dtype in DTYPES else 0.0
        _evidence(found, torch_module, plan, calls)
        report.layers = [Layer(i, c.name, c.kind, l_bound, note="excluded by hand")
                         if any(re.fullmatch(p, c.name.split("#")[0]) for p in exclude_layers) else
                         _layer(i, c, twins.get(c.name), bounds(c.name, l_bound, 0.0)[0], eps, found)
                         for i, c in enumerate(calls, 1)]
        seen = {c.name for c in calls}
        flax_only = sorted({twins[k]["path"] for k in twins if k not in seen and "#" not in k})
        if flax_only:
            report.notes.append(f"Flax modules without a torch twin: {', '.join(_listed(flax_only, shown=8))}")
        first = report.first_divergence
        if first is not None:
            from parity.causes import likely_causes
            report.causes = likely_causes(first, report.layers, calls, twins, torch_module, dtype, found)
    return report


def _stacked_layers(flax_module, variables, rules, twins, f_inputs, names, flax_kwargs) -> list[str]:
    """Twins for each layer of a scanned linen stack (STACKED), its body's calls recorded one by one under
    jax.disable_jit, so that torch's name.i and what runs in it are compared; notes where that failed."""
    import flax.linen as nn
    import jax
    stacks = {module: (name, count) for module, name, count, kind in rules.packs if kind == STACKED}
    if not stacks or is_nnx(flax_module):
        return []
    records: dict[tuple[str, ...], list] = {}

    def grab(next_fun, args, kwargs, context):  # every call inside a stack, concrete: scan runs as a loop here
        out = next_fun(*args, **kwargs)
        path, module = tuple(context.module.path), context.module
        if context.method_name == "__call__" and any(path[:len(m)] == m for m in stacks) and \
                not type(module).__module__.startswith("flax.linen.transforms") and \
                not isinstance(first_array(out), jax.core.Tracer):  # (a trace of the body for its shapes)
            named = bound_arrays(type(module).__call__, args, kwargs, skip_first=True)
            records.setdefault(path, []).append((first_array((args, kwargs)), named, first_array(out)))
        return out

    with nn.intercept_methods(grab), jax.disable_jit():
        flax_module.apply(variables, *([] if names else f_inputs), **dict(zip(names or [], f_inputs)),
                          **flax_kwargs, mutable=True)
    notes, plain = [], rules._with(paths=(), packs=())
    for module, (name, count) in stacks.items():
        if len(records.get(module, [])) != count:
            notes.append(f"the layers of {'/'.join(module)} were not compared one by one: its body ran "
                         f"{len(records.get(module, []))} times, not {count}")
            continue
        for path, calls in records.items():
            if path[:len(module)] != module or len(calls) != count:
                continue
            inner = plain.module_name(path[len(module):])
            for i, (x, named, out) in enumerate(calls):
                twins[f"{name}.{i}" + (f".{inner}" if inner else "")] = {
                    "path": f"{'/'.join(module)}[{i}]" + "".join(f"/{p}" for p in path[len(module):]),
                    "input": to_numpy(x), "inputs": {k: to_numpy(v) for k, v in named.items()},
                    "output": to_numpy(out)}
    return notes


def _trajectory(torch_module, flax_module, batches, steps, rules, dtype, variables, training):
    """compare(..., train_steps=N): the pairing compare finds on the first batch, then
    parity.train.compare_training with those rules; refused where the rules sum torch tensors into one leaf."""
    from parity.train import compare_training
    if variables is not None:
        raise ParityInputError("train_steps starts both sides from torch's weights: leave variables out")
    first = batches(0) if callable(batches) else list(batches)[0] if len(batches) else None
    if not (isinstance(first, (tuple, list)) and len(first) == 2):
        raise ParityInputError("train_steps: batches are (inputs, targets) pairs (a list, or a function of the step)")
    keep = {k: training[k] for k in ("torch_kwargs", "flax_kwargs") if k in training}
    keep["flax_kwargs"] = keep.get("flax_kwargs") or {}
    check = compare(torch_module, flax_module, first[0], rules=rules, dtype=dtype, layers=False, **keep)
    summed = sorted({p.key for _, p in check.plan if not p.primary})
    if summed:
        raise ParityInputError(f"a training trajectory cannot agree here: the rules sum torch tensors into one Flax "
                               f"leaf ({', '.join(summed[:3])}), and an optimizer steps each summand, moving torch's "
                               f"sum twice as far; compare the forward and the gradients (train_steps=0)")
    return compare_training(torch_module, flax_module, batches, steps=steps, rules=check.rules, dtype=dtype,
                            **training)


def _input_name(names, floats, i) -> str:
    return f"input[{names[i]}]" if names else "input" if len(floats) == 1 else f"input[{i}]"


def _layout_pairs(layout, layouts) -> Layouts:
    """compare's `layout`, a (torch, Flax) pair or {'inputs': pair, 'outputs': pair}, checked, and its `layouts`
    ({pattern: 'channels_last' or 'same'}), as the Layouts they declare."""
    given = layout if isinstance(layout, Mapping) else {"inputs": layout, "outputs": layout}
    if set(given) - {"inputs", "outputs"}:
        raise ParityInputError(f"layout {layout!r}: expected a (torch, Flax) pair or {{'inputs': pair, 'outputs': "
                               f"pair}}")
    for pair in given.values():
        if pair is not None and (len(pair) != 2 or sorted(pair[0]) != sorted(pair[1]) or
                                 len(set(pair[0])) != len(pair[0]) or pair[0][:2] != pair[0][:1] + "C"
                                 or (pair[1][-1:] != "C" and pair[1] != pair[0]) or pair[0][:1] != pair[1][:1]):
            raise ParityInputError(f"layout {layout!r}: expected torch's channels-first and Flax's layout of the same "
                                   f"axes, batch first, e.g. ('NCHW', 'NHWC')")
    return Layouts(declared={k: (MOVED if v in ("channels_last", MOVED) else SAME) for k, v in (layouts or {}).items()},
                   model=given.get("inputs"), model_out=given.get("outputs", given.get("inputs"))
                   if "outputs" in given or not isinstance(layout, Mapping) else None)


def _nnx_training(module) -> bool:
    from flax import nnx
    return any(not getattr(m, "deterministic", True) or not getattr(m, "use_running_average", True)
               for _, m in nnx.iter_modules(module) if isinstance(m, (nnx.Dropout, nnx.BatchNorm)))


def _try_pairings(report, rules, state, variables, run, f_inputs, t_out, output_names, out_bound, layouts):
    """Unnamed Flax modules that fit their torch twins several ways: the call order's pairing is kept when the
    outputs agree, else the first of MAX_PAIRINGS others under which they agree; the note says which."""
    import jax
    import jax.numpy as jnp
    def agree(candidate):
        try:
            carried = torch_to_flax(state, dict(variables), candidate)
        except Exception:
            return None
        carried = jax.tree_util.tree_map(jnp.asarray, carried)
        raw, _ = run(carried["params"], list(f_inputs), layers=False, using=carried)
        out = {k: np.asarray(v) for k, v in _leaves(raw, output_names).items()}
        for key, value in t_out.items():
            fitted = _fit(to_numpy(value), out[key], layouts.io(value.ndim, True)) if key in out else None
            if fitted is None or max_abs_diff(fitted[1], fitted[0]) > out_bound:
                return None
        return carried

    if agree(rules) is not None:
        return variables, rules, _plan(variables, rules)
    options = [list(itertools.permutations(names)) for _, names in rules.ambiguous]
    for choice in itertools.islice(itertools.product(*options), MAX_PAIRINGS):
        trial = dict(rules.paths) | {m: n for (modules, _), names in zip(rules.ambiguous, choice)
                                     for m, n in zip(modules, names)}
        candidate = rules._with(paths=tuple(trial.items()))
        carried = agree(candidate)
        if carried is not None:
            pairs = ", ".join(f"{'/'.join(m)} = {trial[m]}" for modules, _ in rules.ambiguous for m in modules)
            report.notes.append(f"paired by the outputs: the call order's pairing did not agree, this one does "
                                f"({pairs})")
            report.mapping = mapping(variables, candidate)
            return carried, candidate, _plan(carried, candidate)
    report.notes.append("the pairing of " + "; ".join(", ".join("/".join(m) for m in modules)
                                                      for modules, _ in rules.ambiguous)
                        + " could not be decided: the shapes fit several ways and no pairing makes the outputs agree; "
                          "kept the call order (name the layers, or pass pair_layers)")
    return variables, rules, _plan(variables, rules)


@contextmanager
def _flax_explained(train: bool):
    """flax's own errors for a module run in the wrong mode, without its statistics or without an rng it asks
    for (dropout in training mode), as one line saying what to pass."""
    from flax import errors
    try:
        yield
    except errors.InvalidRngError as err:
        found = re.search(r'needs PRNG for "(\w+)"', str(err))
        stream = found[1] if found else "dropout"
        raise ParityInputError(
            f"the Flax module asks for the rng {stream!r} (dropout in training mode): compare runs both sides "
            f"deterministically; pass flax_kwargs={{'deterministic': True}} (learngpt parity: --deterministic) or "
            f"build the module with deterministic=True") from None
    except errors.ModifyScopeVariableError as err:
        raise ParityInputError(
            f"the Flax module updates a collection in {'train' if train else 'eval'} mode ({first_line(err)[:200]}): "
            + ("pass its train flag in flax_kwargs (e.g. {'use_running_average': False})" if train else
               "pass its eval flag in flax_kwargs (e.g. {'use_running_average': True}), or compare train mode "
               "(train=True)")) from None
    except errors.ScopeCollectionNotFound as err:
        raise ParityInputError(f"the Flax module needs a collection the variables do not hold "
                               f"({first_line(err)[:200]}): carry them (variables=None carries torch's buffers into "
                               f"batch_stats), or give {{'params': ..., 'batch_stats': ...}}") from None


def assert_parity(torch_module, flax_module, inputs, **kwargs) -> Report:
    """compare(...), raising ParityError (an AssertionError whose message is the report: the layer table
    with the first divergent layer marked) when any bound is broken. Returns the report."""
    report = compare(torch_module, flax_module, inputs, **kwargs)
    if not report.ok:
        raise ParityError(report)
    return report

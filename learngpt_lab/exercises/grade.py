"""Grading a learner's module against the torch reference, in stages, by numbers only (never by source).

    result = grade("MultiHeadVer1", "nnx", path="learngpt-exercises/nnx/multi_head_v1.py")
    print(result.text())        # one line per stage, its number first; details under a failed one

Stages, in order (the first that fails ends the grading):
  1 imports    the file imports and defines the class (not the reference's, nor a subclass of it)
  2 builds     it builds with the curriculum's arguments (the registry component's recipe, the learner's class in it)
  3 params     parameter names and shapes fit the reference's (missing and extra listed)
  4 forward    the same output as the torch reference with the same weights, on several shapes, float32 and float64,
               within parity's bounds (parity.check); on a failure the first diverging sub-layer and a likely cause
  5 gradients  the gradients of every parameter and of the input, within parity's bounds
  6 dropout    where the step has dropout: off in eval, on in train, at the rate asked for
  7 question   the step's own question asked of the learner's module (a short profile; `full` as the tests do)

The learner's torch module is compared with the reference torch module (the same state_dict); a linen or NNX
module with the torch reference, its weights carried by the bridge (parity.check.compare).
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import itertools
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from learngpt import components
from learngpt.config import Config
from learngpt_lab import backends
from learngpt_lab.exercises import causes
from learngpt_lab.exercises.catalog import LABELS, Exercise, check_framework, get
from learngpt_lab.exercises.generate import NOT_IMPLEMENTED

STAGES = {1: "imports", 2: "builds", 3: "params", 4: "forward", 5: "gradients", 6: "dropout", 7: "question"}
PACKAGES = {name: entry.package for name, entry in backends.BACKENDS.items()}  # name -> its lesson package
SHAPES_F32 = ((4, None), (2, 5))  # (B, T) of the inputs; None: block_size
SHAPES_F64 = ((4, None),)
SEED = 0
DROPOUT_SAMPLES = 40_000  # ones through each dropout layer in train mode: the fraction dropped is measured
DROPOUT_SIGMAS = 6  # it may differ from the rate by this many binomial standard deviations (0.0065 at 0.05)
_counter = itertools.count()


@dataclass
class Stage:
    number: int
    ok: bool | None  # None: skipped
    summary: str
    detail: list[str] = field(default_factory=list)
    informative: bool = False  # not graded, but measured (the question at the short profile)

    @property
    def name(self) -> str:
        return STAGES[self.number]

    def line(self) -> str:
        verdict = "ok" if self.ok else ("skipped" if not self.informative else "for reading") if self.ok is None \
            else "FAIL"
        return f"{self.number} {self.name:<9} {verdict}: {self.summary}"


@dataclass
class Result:
    exercise: str
    framework: str
    stages: list[Stage] = field(default_factory=list)
    not_implemented: str | None = None  # the NotImplementedError's message, when the learner's code raised one

    @property
    def failed(self) -> Stage | None:
        return next((s for s in self.stages if s.ok is False), None)

    @property
    def passed(self) -> bool:
        return self.not_implemented is None and self.failed is None and bool(self.stages)

    @property
    def status(self) -> str:
        """passed, 'not implemented', or 'fails at N name'."""
        if self.not_implemented is not None:
            return NOT_IMPLEMENTED
        failed = self.failed
        return "passed" if failed is None else f"fails at {failed.number} {failed.name}"

    def headline(self) -> str:
        who = f"{self.exercise} [{LABELS[self.framework]}]"
        if self.not_implemented is not None:
            return f"{who}: {NOT_IMPLEMENTED} yet ({self.not_implemented}); write the TODO and check again"
        return f"{who}: {self.status}"

    def text(self) -> str:
        if self.not_implemented is not None:
            return self.headline()
        lines = [s.line() for s in self.stages]
        failed = self.failed
        if failed is not None:
            lines += [f"  {d}" for d in failed.detail]
        else:
            for s in self.stages:
                lines += [f"  {d}" for d in s.detail if s.number == 7]
        lines.append(self.headline())
        return "\n".join(lines)


class _Stop(Exception):
    """Ends the grading at a failed stage (already recorded)."""


class _NotImplemented(Exception):
    pass


# ---------------------------------------------------------------------------------------------------------------
# loading the learner's file


def _trimmed(err: BaseException, path: Path | None) -> list[str]:
    """The traceback of the learner's own code: only the frames in their file, then the error."""
    frames = traceback.extract_tb(err.__traceback__)
    if path is not None:
        frames = [f for f in frames if Path(f.filename).resolve() == path.resolve()]
    out = []
    for f in frames:
        out.append(f'File "{f.filename}", line {f.lineno}, in {f.name}')
        if f.line:
            out.append(f"    {f.line}")
    out.append(f"{type(err).__name__}: {err}".strip())
    return out


def _not_implemented(err: BaseException) -> bool:
    return isinstance(err, NotImplementedError)


def load(path: Path, exercise: Exercise) -> type:
    """Import the learner's file as a module of its own and return its class (its own code runs now, never
    when the package is imported)."""
    name = f"learngpt_exercise_{exercise.name}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses (linen) look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    cls = getattr(module, exercise.name, None)
    if cls is None:
        raise LookupError(f"{path.name} defines no {exercise.name}")
    return cls


def reference_class(exercise: Exercise, framework: str) -> type:
    return getattr(importlib.import_module(PACKAGES[framework]), exercise.name)


def _refusal(cls: Any, exercise: Exercise, framework: str, module_name: str | None) -> str | None:
    refs = [reference_class(exercise, f) for f in PACKAGES]
    if not inspect.isclass(cls):
        return f"{exercise.name} in your file is not a class"
    if cls in refs:
        return (f"{exercise.name} in your file is the reference's own class ({cls.__module__}): refused; "
                f"write the class yourself")
    if any(issubclass(cls, r) for r in refs):
        ref = next(r for r in refs if issubclass(cls, r))
        return (f"your {exercise.name} subclasses the reference's ({ref.__module__}.{ref.__name__}): refused; "
                f"write the class yourself (it may use the other curriculum components)")
    if module_name is not None and cls.__module__ != module_name:
        return f"{exercise.name} is imported into your file from {cls.__module__}, not defined there: refused"
    return None


# ---------------------------------------------------------------------------------------------------------------
# building


class _Swapped:
    """A backend package with the learner's class in place of the reference's of the same name (what the
    registry's recipe builds from); the adapter's build gives NNX constructors their rngs, the learner's too."""

    def __init__(self, lib, name: str, cls: type):
        self._lib, self._name, self._cls = lib, name, cls

    def __getattr__(self, attr: str):
        return self._cls if attr == self._name else getattr(self._lib, attr)


def _cfg(exercise: Exercise) -> Config:
    return Config()  # the curriculum's arguments (dropout 0.05)


def build(exercise: Exercise, framework: str, cls: type | None, seed: int = SEED):
    """The exercise's component in `framework`, the learner's class (or the reference's, cls None) inside:
    the adapter's build (Adapter.build), its initialisation drawn from seed."""
    def recipe(lib):
        return components.build(lib, exercise.component, _cfg(exercise))
    swapped = None if cls is None else _Swapped(importlib.import_module(PACKAGES[framework]), exercise.name, cls)
    module = backends.adapter(framework).build(recipe, seed, swapped)
    if framework == "torch":
        module.eval()
    return module


@functools.lru_cache(maxsize=None)
def torch_reference(exercise_name: str, dtype: str):
    """The torch reference of an exercise (the weights every framework is graded with), built once."""
    module = build(get(exercise_name), "torch", None)
    return module.double() if dtype == "float64" else module


def inputs(exercise: Exercise, shape: tuple, dtype: str, seed: int) -> tuple[np.ndarray, ...]:
    cfg = _cfg(exercise)
    B, T = shape
    T = cfg.block_size if T is None else T
    rng = np.random.default_rng(seed)
    if exercise.takes_tokens:
        return rng.integers(0, cfg.vocab_size, size=(B, T)), rng.integers(0, cfg.vocab_size, size=(B, T))
    return (rng.standard_normal((B, T, cfg.embed_size)).astype(dtype),)


# ---------------------------------------------------------------------------------------------------------------
# parameter names and shapes


def param_shapes(module, framework: str, example: tuple) -> dict[str, tuple]:
    """{name: shape} in the framework's own names (Adapter.param_shapes)."""
    return backends.adapter(framework).param_shapes(module, example)


def _names_stage(mine: dict, ref: dict, exercise: Exercise | None = None, framework: str = "torch") -> Stage:
    missing = sorted(set(ref) - set(mine))
    extra = sorted(set(mine) - set(ref))
    wrong = sorted(k for k in set(ref) & set(mine) if ref[k] != mine[k])
    if not (missing or extra or wrong):
        return Stage(3, True, f"{len(ref)} parameter tensors, names and shapes as the reference's")
    detail = [f"missing (the reference has): {k} {ref[k]}" for k in missing]
    detail += [f"extra (the reference has no): {k} {mine[k]}" for k in extra]
    detail += [f"shape of {k}: yours {mine[k]}, the reference's {ref[k]}" for k in wrong]
    for k in missing:  # a tensor of the same shape under another name: a rename
        same = [e for e in extra if mine[e] == ref[k]]
        if same:
            detail.append(f"hint: your {same[0]} has the shape of the reference's {k}: name it as the reference "
                          f"does (the weights are carried by name)")
    if any(k.endswith(("weight", "scale", "bias")) for k in extra) and \
            any(k.endswith(("gamma", "beta")) for k in missing):
        detail.append("hint: a library LayerNorm (weight/bias or scale/bias) where the curriculum's own LayerNorm "
                      "(gamma, beta; unbiased std, eps outside the root) is asked for")
    if wrong and framework == "flax" and exercise is not None and exercise.name in causes.SHAPES:
        detail.append(f"hint: linen reads a layer's input width from what it receives, so a wrong shape shows "
                      f"here: {causes.SHAPES[exercise.name]}")
    parts = [f"{len(missing)} missing"] * bool(missing) + [f"{len(extra)} extra"] * bool(extra) + \
        [f"{len(wrong)} of another shape"] * bool(wrong)
    return Stage(3, False, "parameters differ from the reference's: " + ", ".join(parts), detail)


# ---------------------------------------------------------------------------------------------------------------
# forward and gradients: torch against torch (the same state_dict), JAX against torch (parity.check.compare)


def _outputs(value, names) -> dict:
    if isinstance(value, (tuple, list)):
        return {n: v for n, v in zip(names, value) if v is not None}
    return {names[0]: value}


def torch_pair(reference, mine, arrays: tuple, dtype: str, names: tuple, seed: int, label: str):
    """parity.check's Report for two torch modules with the same weights: outputs, gradients (every parameter
    and the float input) and each submodule's output paired by name, at parity's bounds."""
    import torch

    from parity.check import GRAD_BOUND, GRAD_FLOOR_EPS, GRAD_RELATIVE, OUTPUT_BOUND, Layer, Report
    from parity.trace import torch_calls, to_numpy

    report = Report(label, dtype)
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    runs = []
    for module in (reference, mine):
        module.eval()
        t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        with torch_calls(module) as calls:
            out = _outputs(module(*t_in), names)
        terms = []
        for k, v in out.items():
            if k == "loss":
                terms.append(v)
            else:
                w = weights.setdefault(k, rng.standard_normal(tuple(v.shape)).astype(dtype))
                terms.append((v * torch.as_tensor(w)).sum())
        named = [(k, p) for k, p in module.named_parameters() if p.requires_grad]
        wrt = [p for _, p in named] + [t for t in t_in if t.requires_grad]
        grads = {}
        if wrt and terms:
            total = sum(terms[1:], terms[0])
            got = torch.autograd.grad(total, wrt, allow_unused=True)
            got = [torch.zeros_like(x) if g is None else g for g, x in zip(got, wrt)]
            grads = {k: to_numpy(g) for (k, _), g in zip(named, got)}
            if len(wrt) > len(named):
                grads["input"] = to_numpy(got[-1])
        attrs = {n: to_numpy(getattr(m, a)) for n, m in module.named_modules() for a in ("attentions", "var")
                 if isinstance(getattr(m, a, None), torch.Tensor)}
        runs.append(({k: to_numpy(v) for k, v in out.items()}, grads, list(calls), attrs,
                     sum(p.numel() for p in module.parameters())))
    (w_out, w_grads, w_calls, w_attrs, w_n), (g_out, g_grads, g_calls, g_attrs, g_n) = runs
    report.torch_params, report.flax_params = w_n, g_n
    for k, v in w_out.items():
        if k not in g_out:
            report.problems.append(f"output {k!r}: your module returned none")
        elif np.shape(g_out[k]) != np.shape(v):
            report.problems.append(f"output {k!r}: shape {np.shape(g_out[k])}, the reference's {np.shape(v)}")
        else:
            report.add(k, g_out[k], v, OUTPUT_BOUND[dtype])
    for label_, v in w_attrs.items():
        if label_ in g_attrs and np.shape(g_attrs[label_]) == np.shape(v):
            report.add(label_, g_attrs[label_], v, OUTPUT_BOUND[dtype])
    floor = GRAD_FLOOR_EPS[dtype] * max([float(np.max(np.abs(g))) for g in w_grads.values() if g.size] + [0.0])
    for k in sorted(set(w_grads) | set(g_grads)):
        if k not in w_grads or k not in g_grads:
            report.problems.append(f"gradient {k!r} exists in {'the reference' if k in w_grads else 'yours'} only")
        elif np.shape(g_grads[k]) == np.shape(w_grads[k]):
            report.add(f"grad[{k}]", g_grads[k], w_grads[k], GRAD_BOUND[dtype], GRAD_RELATIVE[dtype], floor)
    mine_calls = {c.name: c for c in g_calls}
    eps = float(np.finfo(dtype).eps)
    for i, call in enumerate(w_calls, 1):
        layer = Layer(i, call.name, call.kind, OUTPUT_BOUND[dtype],
                      shape=None if call.output is None else tuple(call.output.shape))
        twin = mine_calls.get(call.name)
        if twin is None or twin.output is None or call.output is None:
            layer.note = "not called in yours" if twin is None else "no output array"
        elif np.shape(twin.output) != np.shape(call.output):
            layer.note = f"not compared: shapes {np.shape(call.output)} vs yours {np.shape(twin.output)}"
        else:
            layer.path = call.name
            layer.diff = float(np.max(np.abs(np.asarray(twin.output, np.float64) - call.output))) if call.output.size \
                else 0.0
            scale = float(np.max(np.abs(call.output))) if call.output.size else 0.0
            layer.rel = layer.diff / scale if scale > 0 else layer.diff
            if call.input is not None and twin.input is not None and call.input.dtype.kind == "f" \
                    and np.shape(call.input) == np.shape(twin.input) and call.input.size:
                iscale = float(np.max(np.abs(call.input)))
                d = float(np.max(np.abs(np.asarray(twin.input, np.float64) - call.input)))
                layer.input_rel = d / iscale if iscale > 0 else d
                layer.floor = eps * iscale
        report.layers.append(layer)
    return report


def _jax_report(reference, mine, arrays, dtype, names, seed, label, layers=False):
    from parity.check import compare

    kwargs = {"output_names": names, "seed": seed, "dtype": dtype, "name": label, "layers": layers}
    if "loss" in names:
        kwargs["weights"] = {"loss": 1.0}
    return compare(reference, mine, tuple(arrays), **kwargs)


def _mine_output(mine, framework: str, arrays: tuple, dtype: str, reference=None):
    """The learner's first output (logits for a GPT) in eval mode, as numpy; its weights the reference's."""
    if framework == "torch":
        import torch
        mine.eval()
        with torch.no_grad():
            out = mine(*[torch.as_tensor(a) for a in arrays])
        out = out[0] if isinstance(out, (tuple, list)) else out
        return out.detach().numpy()
    import jax
    import jax.numpy as jnp

    from parity.bridge import abstract_params, torch_state, torch_to_flax
    from parity.nnx import is_nnx, nnx_apply, nnx_params
    from parity.rules import DEFAULT_RULES
    with jax.enable_x64(dtype == "float64"):
        args = tuple(jnp.asarray(a) for a in arrays)
        template = nnx_params(mine) if is_nnx(mine) else abstract_params(mine, *args)
        state = torch_state(reference)
        params = torch_to_flax(state, template, DEFAULT_RULES.bind(template, state))
        if is_nnx(mine):
            out = nnx_apply(mine, params, args, {}, False)[0]
        else:
            out = mine.apply({"params": params}, *args)
        out = out[0] if isinstance(out, (tuple, list)) else out
        return np.asarray(out)


def _numbers_stages(exercise: Exercise, framework: str, mine, cls: type, result: Result, seed: int) -> None:
    names = ("logits", "loss") if exercise.takes_tokens else ("output",)
    cases = [(s, "float32") for s in SHAPES_F32] + [(s, "float64") for s in SHAPES_F64]
    grads_ok, grad_rows, worst_out, worst_grad = True, 0, 0.0, 0.0
    grad_detail: list[str] = []
    mine_f64 = None
    if framework == "torch":
        import torch

    def double():
        module = build(exercise, "torch", cls, seed)
        module.load_state_dict(torch_reference(exercise.name, "float32").state_dict())
        return module.double()
    for shape, dtype in cases:
        arrays = inputs(exercise, shape, dtype, seed + 1)
        reference = torch_reference(exercise.name, dtype)
        where = f"{dtype}, input {tuple(arrays[0].shape)}"
        label = f"{exercise.name} [{framework}]"
        try:
            if framework == "torch":
                if dtype == "float64":
                    mine_f64 = mine_f64 or double()
                    module = mine_f64
                else:
                    module = mine
                with torch.random.fork_rng():
                    report = torch_pair(reference, module, arrays, dtype, names, seed + 2, label)
            else:
                report = _jax_report(reference, mine, arrays, dtype, names, seed + 2, label)
        except Exception as err:  # the learner's code raised (or returned what cannot be compared)
            if _not_implemented(err):
                raise _NotImplemented(str(err)) from None
            detail = [f"your forward raised on the {where}:", *_trimmed(err, _learner_path.get(id(result)))]
            if exercise.name in causes.SHAPES:
                detail.append(f"hint: {causes.SHAPES[exercise.name]}")
            result.stages.append(Stage(4, False, f"forward raised {type(err).__name__} ({where})", detail))
            raise _Stop from None
        outs = [r for r in report.rows if not r.tensor.startswith("grad[")]
        grads = [r for r in report.rows if r.tensor.startswith("grad[")]
        bad = [r for r in outs if not r.ok] + ([None] if report.problems and not grads and not outs else [])
        shape_problems = [p for p in report.problems if p.startswith("output")]
        if bad or shape_problems or (not outs):
            detail = [f"on the {where}:"]
            detail += [r.message() for r in outs if not r.ok] + shape_problems + \
                ([] if outs else ["no output was compared"] + report.problems)
            if framework != "torch":  # the layer table, only now (capturing every layer costs seconds)
                try:
                    report = _jax_report(reference, mine, arrays, dtype, names, seed + 2, label, layers=True)
                except Exception:
                    pass
            if report.first_divergence is not None:
                detail.append(report.verdict())
            uncalled = [layer.label for layer in report.layers if not layer.compared
                        and layer.note in ("no Flax twin", "not called in yours") and layer.name]
            if uncalled:
                detail.append("the reference calls these sub-layers, yours does not: " + ", ".join(uncalled))
            learner_terms = []
            try:
                f64 = inputs(exercise, shape, "float64", seed + 1)
                ref64 = torch_reference(exercise.name, "float64")
                if framework == "torch":
                    mine_f64 = mine_f64 or double()
                    got = _mine_output(mine_f64, "torch", f64, "float64")
                else:
                    got = _mine_output(mine, framework, f64, "float64", ref64)
                with torch_no_grad():
                    want = ref64(*_torch_args(f64))
                want = (want[0] if isinstance(want, (tuple, list)) else want).detach().numpy()
                learner_terms = causes.likely(exercise.name, ref64, f64[0], got, want)
                if not learner_terms and np.shape(got) != np.shape(want) and exercise.name in causes.SHAPES:
                    learner_terms = [causes.SHAPES[exercise.name]]
                if not learner_terms and exercise.dropout and _changes_in_eval(mine, framework, arrays):
                    learner_terms = ["your output changes from call to call in eval mode: dropout is active in eval "
                                     "(torch: nn.Dropout follows train()/eval(); linen: pass deterministic; NNX: "
                                     "nnx.Dropout follows train()/eval())"]
            except Exception:  # the causes are a courtesy: never a second failure
                pass
            detail += [f"likely cause: {c}" for c in learner_terms]
            detail += [f"likely cause (framework defaults): {c}" for c in report.causes if c not in learner_terms]
            result.stages.append(Stage(4, False, f"the output differs from the reference's ({where})", detail))
            raise _Stop
        worst_out = max([worst_out] + [r.diff for r in outs if dtype == "float32"])
        for r in grads:
            grad_rows += 1
            if not r.ok:
                grads_ok = False
                grad_detail.append(f"on the {where}: {r.message()}")
        grad_detail += [f"on the {where}: {p}" for p in report.problems if not p.startswith("output")]
        if report.problems and any(not p.startswith("output") for p in report.problems):
            grads_ok = False
        worst_grad = max([worst_grad] + [r.diff for r in grads if dtype == "float32"])
    shapes = ", ".join(str(tuple(inputs(exercise, s, "float32", 0)[0].shape)) for s in SHAPES_F32)
    result.stages.append(Stage(4, True, f"outputs within parity's bounds on {shapes} (float32, worst {worst_out:.1e} "
                                        f"<= 1e-05) and in float64 (<= 1e-10)"))
    if not grads_ok:
        grad_detail.append("hint: the forward agrees but its gradients do not: an operation that cuts the "
                           "graph (.detach(), .data, jax.lax.stop_gradient, numpy in the middle) or a value "
                           "computed outside the differentiated function")
        result.stages.append(Stage(5, False, "gradients differ from the reference's", grad_detail))
        raise _Stop
    result.stages.append(Stage(5, True, f"{grad_rows // max(1, len(cases))} gradients (parameters and input) within "
                                        f"parity's bounds (float32 worst {worst_grad:.1e} relative <= 1e-04)"))


def torch_no_grad():
    import torch
    return torch.no_grad()


def _torch_args(arrays):
    import torch
    return [torch.as_tensor(a) for a in arrays]


_learner_path: dict[int, Path] = {}


def _changes_in_eval(mine, framework: str, arrays) -> bool:
    a = _call(mine, framework, arrays[0], train=False, key=0)
    b = _call(mine, framework, arrays[0], train=False, key=1)
    return not np.array_equal(a, b)


# ---------------------------------------------------------------------------------------------------------------
# dropout: off in eval, on in train, at the rate asked for

_variables_cache: dict[int, Any] = {}


def _call(module, framework: str, x: np.ndarray, train: bool, key: int) -> np.ndarray:
    if framework == "torch":
        import torch
        module.train(train)
        torch.manual_seed(key)
        with torch.no_grad():
            out = module(torch.as_tensor(x))
        module.eval()
        return out.numpy()
    import jax
    import jax.numpy as jnp
    if framework == "nnx":
        from flax import nnx
        if train:
            module.train()
            nnx.reseed(module, dropout=key)
        else:
            module.eval()
        out = module(jnp.asarray(x))
        module.eval()
        return np.asarray(out)
    variables = _variables_cache.get(id(module))
    if variables is None:
        variables = _variables_cache[id(module)] = module.init(jax.random.PRNGKey(0), jnp.asarray(x))
    return np.asarray(module.apply(variables, jnp.asarray(x), deterministic=not train,
                                   rngs={"dropout": jax.random.PRNGKey(key)}))


def _dropped(module, framework: str, attr: str, rate: float) -> tuple[float, float] | None:
    """(fraction of ones the submodule `attr` zeroed, the largest |survivor - 1 / (1 - rate)|) in train mode."""
    ones = np.ones((DROPOUT_SAMPLES,), np.float32)
    if framework == "flax":
        import jax
        import jax.numpy as jnp
        sub = None

        def probe(m, x):
            return getattr(m, attr)(x, deterministic=False)
        try:
            out = module.apply({}, jnp.asarray(ones), method=probe, rngs={"dropout": jax.random.PRNGKey(3)})
        except Exception:
            return sub
    else:
        sub = getattr(module, attr, None)
        if sub is None:
            return None
        out = _call(sub, framework, ones, train=True, key=3)
    out = np.asarray(out, np.float64)
    kept = out[out != 0]
    return float(np.mean(out == 0)), float(np.max(np.abs(kept - 1 / (1 - rate)))) if kept.size else 0.0


def _dropout_stage(exercise: Exercise, framework: str, mine, path: Path | None = None) -> Stage:
    rate = _cfg(exercise).dropout
    slack = DROPOUT_SIGMAS * (rate * (1 - rate) / DROPOUT_SAMPLES) ** 0.5
    x = inputs(exercise, (4, None), "float32", 11)[0]
    try:
        evals = [_call(mine, framework, x, train=False, key=k) for k in (1, 2)]
        trains = [_call(mine, framework, x, train=True, key=k) for k in (1, 2)]
    except Exception as err:
        if _not_implemented(err):
            raise _NotImplemented(str(err)) from None
        return Stage(6, False, f"train mode raised {type(err).__name__}", _trimmed(err, path))
    detail = []
    if not np.array_equal(evals[0], evals[1]):
        detail.append("in eval mode two calls differ: dropout is active in eval")
    if np.array_equal(trains[0], trains[1]):
        detail.append("in train mode two calls give the same output: no dropout is active in train "
                      "(a rate of 0, or a layer that ignores the mode)")
    measured = []
    for attr in ("drop1", "drop2"):
        found = _dropped(mine, framework, attr, rate)
        if found is None:
            detail.append(f"no submodule {attr} to measure (the reference's name for the dropout on the "
                          f"{'attention' if attr == 'drop1' else 'feed-forward'} branch)")
            continue
        fraction, survivors = found
        measured.append(f"{attr} drops {fraction:.4f}")
        if abs(fraction - rate) > slack:
            hint = (" (1 - rate: the argument is the fraction dropped, not kept)" if abs(fraction - (1 - rate))
                    <= slack else " (the rate must be the constructor's dropout argument)")
            detail.append(f"{attr} drops {fraction:.4f} of its input in train mode; built with dropout={rate} it "
                          f"must drop {rate} (+-{slack:.4f}){hint}")
        elif survivors > 1e-5:
            detail.append(f"{attr}: the values kept are not scaled by 1 / (1 - rate) (off by {survivors:.2e})")
    if detail:
        return Stage(6, False, detail[0].split(":")[0] if len(detail) == 1 else "dropout misbehaves", detail)
    return Stage(6, True, f"eval deterministic, train random; built with dropout={rate}: {', '.join(measured)} "
                          f"(+-{slack:.4f})")


# ---------------------------------------------------------------------------------------------------------------
# the question


@contextlib.contextmanager
def swapped_everywhere(framework: str, name: str, cls: type):
    """The learner's class in place of the reference's in every module of the backend package, while the
    question runs (the curriculum's own files import it by name); put back after."""
    ref = reference_class(get(name), framework)
    package = PACKAGES[framework]
    changed = []
    for mod_name, module in list(sys.modules.items()):
        if (mod_name == package or mod_name.startswith(package + ".")) and getattr(module, name, None) is ref:
            setattr(module, name, cls)
            changed.append(module)
    try:
        yield
    finally:
        for module in changed:
            setattr(module, name, ref)


def short_profile():
    from learngpt_lab.questions import DEFAULT
    return replace(DEFAULT, name="short", seeds=(0,), multi_head_seeds=(0,), eval_iters=10, max_iters=300,
                   multi_head_max_iters=300, deep_max_iters=300, deep_n_layers=3, layer_norm_depth=6,
                   layer_norm_depth_max_iters=300, dropout_max_iters=300, week1_max_iters=300)


def _question_stage(exercise: Exercise, framework: str, cls: type, full: bool, path: Path | None = None) -> Stage:
    from learngpt_lab import backends, questions

    q = questions.load()[exercise.question]
    prof = questions.profile("default") if full else short_profile()
    corpus = None
    if q.trains:
        from learngpt.data import load_corpus
        try:
            corpus = load_corpus()
        except Exception as err:
            return Stage(7, None, f"{q.id}: needs the corpus ({err})")
    t0 = time.perf_counter()
    try:
        with swapped_everywhere(framework, exercise.name, cls):
            res = questions.ask(q.id, backends.get(framework), corpus, prof)
    except Exception as err:
        if _not_implemented(err):
            raise _NotImplemented(str(err)) from None
        return Stage(7, False, f"{q.id} raised {type(err).__name__}", _trimmed(err, path))
    seconds = time.perf_counter() - t0
    graded = full or not q.trains
    broken = [text for ok, text in res.guards if not ok]
    ok = res.holds and not broken
    where = "as the tests do (profile default)" if full else "at the short profile"
    detail = [f"asks: {q.asks}", *str(res).splitlines()]
    if not graded:
        detail.append("(at the short profile the answer is for reading, not graded: `--full` asks it as the tests do)")
        return Stage(7, None, f"{q.id}: {'holds' if ok else 'does not hold'} {where} ({seconds:.1f} s, your "
                              f"{exercise.name} inside)", detail, informative=True)
    return Stage(7, ok, f"{q.id}: {'holds' if ok else 'DOES NOT HOLD'} {where} ({seconds:.1f} s, your "
                        f"{exercise.name} inside)", detail)


# ---------------------------------------------------------------------------------------------------------------


def grade(name: str, framework: str, path: str | Path | None = None, cls: type | None = None,
          question: bool | str = True, full: bool = False, seed: int = SEED) -> Result:
    """Grade the learner's `name` in `framework`: from the file `path`, or the class `cls` (a notebook's).
    question: True asks the step's question, False skips it, "quick" asks it only where it trains nothing."""
    exercise = get(name)
    check_framework(framework)
    _variables_cache.clear()  # keyed by id(): never carried from one grading to the next
    result = Result(name, framework)
    file = Path(path) if path is not None else None
    where = file
    if where is None and cls is not None:
        try:
            where = Path(inspect.getfile(cls))  # a notebook cell's file: its frames are the learner's
        except (TypeError, OSError):
            where = None
    if where is not None:
        _learner_path[id(result)] = where
    try:
        _grade(exercise, framework, file, cls, question, full, seed, result)
    except _NotImplemented as err:
        result.not_implemented = str(err).strip() or "NotImplementedError"
    except _Stop:
        pass
    finally:
        _learner_path.pop(id(result), None)
    return result


def _grade(exercise, framework, file, cls, question, full, seed, result) -> None:
    import warnings

    # 1: imports and defines the class
    module_name = None
    if cls is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cls = load(file, exercise)
            module_name = cls.__module__ if inspect.isclass(cls) and cls.__module__.startswith(
                "learngpt_exercise_") else None
            if module_name is None and inspect.isclass(cls):
                module_name = "(your file)"
        except SyntaxError as err:
            result.stages.append(Stage(1, False, f"your file does not parse: line {err.lineno}: {err.msg}",
                                       [f"{err.filename}, line {err.lineno}", f"    {(err.text or '').rstrip()}"]))
            raise _Stop from None
        except LookupError as err:
            result.stages.append(Stage(1, False, str(err).strip("'\""),
                                       [f"the file must define class {exercise.name}"]))
            raise _Stop from None
        except Exception as err:
            if _not_implemented(err):
                raise _NotImplemented(str(err)) from None
            result.stages.append(Stage(1, False, f"importing your file raised {type(err).__name__}",
                                       _trimmed(err, file)))
            raise _Stop from None
    refused = _refusal(cls, exercise, framework, module_name if module_name != "(your file)" else None)
    if refused:
        result.stages.append(Stage(1, False, refused))
        raise _Stop
    result.stages.append(Stage(1, True, f"defines {exercise.name}"))

    # 2: builds with the curriculum's arguments
    cfg = _cfg(exercise)
    example = inputs(exercise, (1, None), "float32", seed)
    try:
        mine = build(exercise, framework, cls, seed)
        mine_shapes = param_shapes(mine, framework, example)
    except Exception as err:
        if _not_implemented(err):
            raise _NotImplemented(str(err)) from None
        extra = [] if framework != "flax" else ["(linen builds its parameters by running __call__ once: an error "
                                                "there shows here)"]
        result.stages.append(Stage(2, False, f"building {exercise.component} raised {type(err).__name__}",
                                   _trimmed(err, result and _learner_path.get(id(result))) + extra))
        raise _Stop from None
    args = {"block_size": cfg.block_size, "embed_size": cfg.embed_size, "n_heads": cfg.n_heads,
            "vocab_size": cfg.vocab_size}
    built = ", ".join(f"{k}={v}" for k, v in args.items())
    result.stages.append(Stage(2, True, f"builds as {exercise.component} ({built}"
                                        f"{f', dropout={cfg.dropout}' if exercise.dropout else ''})"))

    # 3: parameter names and shapes
    reference = build(exercise, framework, None, seed)
    stage = _names_stage(mine_shapes, param_shapes(reference, framework, example), exercise, framework)
    result.stages.append(stage)
    if not stage.ok:
        raise _Stop
    if framework == "torch":
        mine.load_state_dict(torch_reference(exercise.name, "float32").state_dict())

    # 4, 5: forward and gradients
    _numbers_stages(exercise, framework, mine, cls, result, seed)

    # 6: dropout
    if exercise.dropout:
        stage = _dropout_stage(exercise, framework, mine, _learner_path.get(id(result)))
        result.stages.append(stage)
        if not stage.ok:
            raise _Stop
    else:
        result.stages.append(Stage(6, None, "no dropout in this step"))

    # 7: the question
    from learngpt_lab.questions import load as load_questions
    q = load_questions()[exercise.question]
    if question is False or (question == "quick" and q.trains):
        result.stages.append(Stage(7, None, f"{q.id} not asked here (`learngpt exercise check {exercise.name} "
                                            f"--framework {framework}` asks it)"))
        return
    result.stages.append(_question_stage(exercise, framework, cls, full, _learner_path.get(id(result))))

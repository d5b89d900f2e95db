"""Training trajectories for any torch/Flax pair: the same weights, the same batches, N optimizer steps on each
side, and every step compared.

    report = compare_training(torch_model, flax_model, batches, steps=20)   # torch's AdamW defaults, both sides
    assert report.ok, report

Both sides start from torch's weights (carried into the Flax module by the rules, as compare() carries them)
and train copies: the modules given are left as they were. Per step the batch's loss (before the update) and
every parameter after the update are compared, the Flax parameters put in torch's layout by the same rules.
The report names the first step and the parameter (or the loss) that leaves the bound, and, for an AdamW pair,
which optimizer default explains it (`likely cause:`), decided numerically: the torch side is trained again up
to that step with each alternative, and an alternative is named when the Flax parameters are its parameters
(at least 1/CLOSER times closer to them than to torch's own). Nothing is named on a guess.

Optimizers: a recipe name (RECIPES: "adamw" is torch.optim.AdamW with its defaults on the torch side and
`torch_adamw`, the optax transformation with torch's arithmetic, on the Flax side), or the pair
(torch factory `lambda params: torch.optim.X(params, ...)`, optax GradientTransformation). For an NNX module the
optax transformation sees the parameters as nnx.to_pure_dict of nnx.state(model, nnx.Param).

Bounds (BOUNDS), on the loss and on every parameter at every step:
- float64: max |diff| <= 1e-9, the project's own NanoGPT trajectory bound (tests/parity/test_trajectory.py).
- float32: max |diff| / max(1, max |torch value|) <= 1e-5 * max(1, step / 20). Roundoff, not a tolerance picked
  to pass. Two correct implementations part per step by (a) the rounding of each parameter, an ulp, 2**-24 |p|
  ~ 6e-8 |p|, and (b) the update's roundoff: Adam's step is normalised, so a gradient summed in another order
  (relative error ~ n * 2**-24 for a reduction of n terms, n <= 1e3 here, ~6e-5) moves a step of lr by ~1e-4 of
  it, 1e-7 at lr 1e-3. That is 1.6e-7 a step, 3.2e-6 over 20 steps: 1e-5 leaves a factor 3 for the growth the
  trajectory adds, and the budget grows in proportion beyond 20 steps. Both terms scale with the value's
  magnitude above 1 (an ulp does), hence the division; and 1e-5 is also parity.check's float32 bound on an
  output, which the first step's loss is. It holds where gradients are well above roundoff: where a gradient
  is itself at the roundoff level, Adam's normalised step turns its sign into a full lr step, and no float32
  implementation holds any bound there (the project's 200-step float32 runs show it): compare in float64,
  where the claim is made.
"""
from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from parity.check import LOSSES as CHECK_LOSSES, ParityError, ParityInputError

BOUNDS = {"float64": 1e-9, "float32": 1e-5}
SCALED = {"float64": False, "float32": True}  # diff / max(1, max |torch value|)
GROWTH_STEPS = {"float32": 20}  # the bound covers this many steps of roundoff, and grows in proportion beyond
DTYPES = tuple(BOUNDS)
CLOSER = 0.1  # an alternative fits when the Flax parameters are 10 times closer to it than to torch's
RECIPES = ("adamw", "adam", "sgd")
OPTAX_WEIGHT_DECAY = 1e-4  # optax.adamw's default (torch.optim.AdamW's is 1e-2)

__all__ = ["BOUNDS", "RECIPES", "StepRow", "TrainingReport", "compare_training", "torch_adamw"]


@functools.lru_cache(maxsize=32)
def torch_adamw(learning_rate: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                weight_decay: float = 1e-2):
    """torch.optim.AdamW (amsgrad off) as an optax GradientTransformation, in torch's order of operations:
    decoupled weight decay p * (1 - lr * wd) on every parameter, eps added outside the square root, bias
    corrections 1 - b**t as -expm1(t log b) (accurate to an ulp; optax.adamw computes b**t in the parameters'
    dtype, ~1e-5 relative off in float32)."""
    import jax
    import jax.numpy as jnp
    import optax

    log_b1, log_b2 = math.log(b1), math.log(b2)

    def init(params):  # zeros made by numpy: nothing to compile per parameter shape
        zeros = jax.tree_util.tree_map(lambda p: jnp.asarray(np.zeros(np.shape(p), jnp.result_type(p))), params)
        return optax.ScaleByAdamState(count=jnp.asarray(np.int32(0)), mu=zeros, nu=zeros)

    def update(grads, state, params):
        count = state.count + 1
        mu = jax.tree_util.tree_map(lambda m, g: m + (1 - b1) * (g - m), state.mu, grads)  # exp_avg.lerp_
        nu = jax.tree_util.tree_map(lambda v, g: v * b2 + (1 - b2) * g * g, state.nu, grads)  # mul_, addcmul_

        def one(p, m, v):
            t = count.astype(p.dtype)
            step_size = learning_rate / -jnp.expm1(t * log_b1)  # lr / (1 - b1**t)
            denom = jnp.sqrt(v) / jnp.sqrt(-jnp.expm1(t * log_b2)) + eps  # sqrt(v) / sqrt(1 - b2**t) + eps
            return (p * (1 - learning_rate * weight_decay) + (-step_size) * (m / denom)) - p

        return jax.tree_util.tree_map(one, params, mu, nu), optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)


def _recipe(name: str, lr: float):
    """(torch factory, optax transformation) of a named recipe, every hyper-parameter stated on both sides."""
    import optax
    import torch

    if name == "adamw":  # torch.optim.AdamW's defaults
        return (lambda p: torch.optim.AdamW(p, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2),
                torch_adamw(lr, 0.9, 0.999, 1e-8, 1e-2))
    if name == "adam":  # torch.optim.Adam's defaults: no weight decay
        return (lambda p: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
                torch_adamw(lr, 0.9, 0.999, 1e-8, 0.0))
    return (lambda p: torch.optim.SGD(p, lr=lr), optax.sgd(lr))  # "sgd": plain, no momentum


def _mse(out, targets):  # the same expression on torch tensors and jax arrays
    return ((out - targets) ** 2).mean()


# (first output, targets) -> scalar, on each side
LOSSES = {"cross_entropy": CHECK_LOSSES["cross_entropy"], "mse": (_mse, _mse)}


@dataclass
class StepRow:
    """One step: the batch's loss on each side (before the update), and the parameters after it; the
    differences as judged (divided by max(1, max |torch value|) where the report is scaled)."""
    step: int
    torch_loss: float
    flax_loss: float
    loss_diff: float
    param_diff: float  # the largest over every parameter
    param_key: str  # the torch key where it is


@dataclass
class TrainingReport:
    """Every step of a training comparison; str() is the printable report."""
    component: str
    dtype: str
    optimizer: str
    bound: float  # at step 1
    scaled: bool = False  # differences divided by max(1, max |torch value|)
    growth: int = 0  # the bound is bound * max(1, step / growth) (0: fixed)
    rows: list[StepRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def bound_at(self, step: int) -> float:
        return self.bound * max(1.0, step / self.growth) if self.growth else self.bound

    def judged(self, got, want) -> float:
        """max |got - want|, divided by max(1, max |want|) where the report is scaled; inf for another shape."""
        a, b = np.asarray(got, np.float64), np.asarray(want, np.float64)
        if a.shape != b.shape:
            return math.inf
        if not a.size:
            return 0.0
        diff = float(np.max(np.abs(a - b)))
        return diff / max(1.0, float(np.max(np.abs(b)))) if self.scaled else diff

    def _over(self, row: StepRow) -> bool:
        bound = self.bound_at(row.step)
        return not (row.loss_diff <= bound and row.param_diff <= bound)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.problems and not any(self._over(r) for r in self.rows)

    @property
    def first_divergence(self) -> tuple[int, str, float] | None:
        """(step, 'loss' or the torch key of the parameter, its judged difference) of the first step above the
        bound; the loss is named where it is over (it is computed before the step's update), else the worst
        parameter."""
        for row in self.rows:
            if not row.loss_diff <= self.bound_at(row.step):
                return row.step, "loss", row.loss_diff
            if not row.param_diff <= self.bound_at(row.step):
                return row.step, row.param_key, row.param_diff
        return None

    @property
    def max_loss_diff(self) -> float:
        return max((r.loss_diff for r in self.rows), default=0.0)

    @property
    def max_param_diff(self) -> float:
        return max((r.param_diff for r in self.rows), default=0.0)

    def _measure(self) -> str:
        return "max |diff| / max(1, max |torch value|)" if self.scaled else "max |diff|"

    def verdict(self) -> str:
        first = self.first_divergence
        if first is None:
            return (f"every step within the bound: loss {self.max_loss_diff:.2e}, parameters "
                    f"{self.max_param_diff:.2e} at most")
        step, what, diff = first
        name = "the loss" if what == "loss" else f"parameter {what!r}"
        return (f"first divergence: step {step}, {name}: {self._measure()} {diff:.3e} exceeds bound "
                f"{self.bound_at(step):.1e}")

    def table(self) -> str:
        growth = f" * max(1, step / {self.growth})" if self.growth else ""
        lines = [f"training parity of {self.component} [{self.dtype}], {self.optimizer}, {len(self.rows)} steps: "
                 f"{'pass' if self.ok else 'FAIL'}",
                 f"bound: {self._measure()} <= {self.bound:.0e}{growth} on the loss (before the step's update) and "
                 f"on every parameter (after it), in torch's layout",
                 f"  {'step':>4}  {'torch loss':>12}  {'flax loss':>12}  {'loss diff':>9}  {'param diff':>10}  "
                 f"worst parameter"]
        first = self.first_divergence
        for r in self.rows:
            mark = "  <-- first divergence" if first is not None and r.step == first[0] else (
                "  FAIL" if self._over(r) else "")
            lines.append(f"  {r.step:>4}  {r.torch_loss:12.6f}  {r.flax_loss:12.6f}  {r.loss_diff:9.2e}  "
                         f"{r.param_diff:10.2e}  {r.param_key}{mark}")
        lines.append(self.verdict())
        lines += [f"likely cause: {c}" for c in self.causes]
        return "\n".join(lines + self.problems + self.notes)

    def __str__(self) -> str:
        return self.table()


TrainingParityError = ParityError  # a comparison above its bound, an AssertionError whose message is the report


# --- input checks: every mistake one line ---

def _kind(obj) -> str:
    """'torch', 'linen', 'nnx', or '' for anything else (no framework imported to tell)."""
    mro = type(obj).__mro__ if not isinstance(obj, type) else ()
    for c in mro:
        if c.__module__.startswith("torch.nn") and c.__name__ == "Module":
            return "torch"
        if c.__module__.startswith("flax.nnx") and c.__name__ == "Module":
            return "nnx"
        if c.__module__.startswith("flax.linen") and c.__name__ == "Module":
            return "linen"
    return ""


def _is_module_class(value) -> bool:
    frameworks = ("torch.nn", "flax.nnx", "flax.linen")
    return isinstance(value, type) and any(c.__name__ == "Module" and c.__module__.startswith(frameworks)
                                           for c in value.__mro__)


def check_modules(torch_module, flax_module, where: str = "compare_training") -> None:
    """ParityInputError, one line, unless torch_module is a torch.nn.Module instance and flax_module a linen
    or NNX Module instance."""
    for arg, value, want in (("torch_module", torch_module, "torch"), ("flax_module", flax_module, "flax")):
        kind = _kind(value)
        expected = "torch.nn.Module" if want == "torch" else "flax.linen or flax.nnx Module"
        if (want == "torch" and kind == "torch") or (want == "flax" and kind in ("linen", "nnx")):
            continue
        if value is None:
            raise ParityInputError(f"{where}: {arg} is None; expected a {expected} instance")
        if _is_module_class(value):
            raise ParityInputError(f"{where}: {arg} is the class {value.__name__}, not an instance: pass "
                                   f"{value.__name__}(...)")
        if kind:  # the other framework's: the arguments were swapped
            raise ParityInputError(f"{where}: {arg} is a {'Flax' if want == 'torch' else 'torch'} module "
                                   f"({type(value).__name__}): the arguments are (torch_module, flax_module, ...)")
        raise ParityInputError(f"{where}: {arg} is a {type(value).__name__}, not a {expected}")


def check_optimizer(optimizer, where: str = "compare_training") -> None:
    """ParityInputError, one line, unless optimizer is a name in RECIPES or (torch factory, optax
    GradientTransformation)."""
    if isinstance(optimizer, str):
        if optimizer not in RECIPES:
            raise ParityInputError(f"{where}: unknown optimizer {optimizer!r}; expected one of {', '.join(RECIPES)}, "
                                   f"or (torch factory, optax GradientTransformation)")
    elif not (isinstance(optimizer, (tuple, list)) and len(optimizer) == 2 and callable(optimizer[0])
              and hasattr(optimizer[1], "init") and hasattr(optimizer[1], "update")):
        raise ParityInputError(f"{where}: optimizer is a {type(optimizer).__name__}; expected one of "
                               f"{', '.join(RECIPES)}, or (torch factory `lambda params: torch.optim.X(params, ...)`, "
                               f"optax GradientTransformation)")


def _batch_arrays(batch, step: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    where = f"compare_training: batch for step {step}"
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        what = f"a {type(batch).__name__}" + (f" of {len(batch)} items" if isinstance(batch, (tuple, list)) else "")
        raise ParityInputError(f"{where} is {what}; expected a pair (inputs, targets) of numpy arrays (inputs may "
                               f"be a tuple of arrays)")
    inputs, targets = batch
    out = []
    for i, x in enumerate(inputs if isinstance(inputs, tuple) else (inputs,)):
        if _array(x) is None:
            raise ParityInputError(f"{where}: input {i} is a {type(x).__name__}; expected a numpy array")
        out.append(_array(x))
    if _array(targets) is None:
        raise ParityInputError(f"{where}: targets are a {type(targets).__name__}; expected a numpy array")
    return tuple(out), _array(targets)


def _array(x) -> np.ndarray | None:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if isinstance(x, (dict, str, bytes)) or x is None:
        return None
    try:
        a = np.asarray(x)
    except Exception:
        return None
    return a if a.dtype.kind in "biuf" else None


def _dropout(torch_module, flax_module) -> str | None:
    """The first dropout layer with a rate above 0 in either module, named; None when there is none."""
    for name, m in torch_module.named_modules():
        if any(c.__name__ == "_DropoutNd" for c in type(m).__mro__) and getattr(m, "p", 0) > 0:
            return f"torch's {name or '(model)'} ({type(m).__name__}, p={m.p})"
        rate = getattr(m, "dropout", None)  # nn.MultiheadAttention keeps its rate as a number
        if isinstance(rate, float) and rate > 0:
            return f"torch's {name or '(model)'} ({type(m).__name__}, dropout={rate})"
    if _kind(flax_module) == "nnx":
        from flax import nnx
        for path, m in nnx.iter_graph(flax_module):
            if isinstance(m, nnx.Dropout) and m.rate > 0 and not m.deterministic:
                return f"the NNX module's {'.'.join(map(str, path)) or '(model)'} (nnx.Dropout, rate={m.rate})"
    return None


def _first(out):
    """The first array of a module's output (a tuple's first item, a dict's first value)."""
    while isinstance(out, (tuple, list)) and out or isinstance(out, Mapping) and out:
        out = out[0] if isinstance(out, (tuple, list)) else next(iter(out.values()))
    return out


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


# --- the torch side: its own optimizer, and AdamW with one default changed (for the causes) ---

def _torch_adamw_groups(opt) -> list[dict] | None:
    """Per parameter (in the order of the optimizer's groups): lr, betas, eps, weight_decay of a torch AdamW
    (or Adam with decoupled decay, or with none), None for any other optimizer."""
    import torch

    if not isinstance(opt, torch.optim.Adam) or any(g.get("amsgrad") or g.get("maximize") for g in opt.param_groups):
        return None
    out = []
    for g in opt.param_groups:
        decoupled = g.get("decoupled_weight_decay", isinstance(opt, torch.optim.AdamW))
        if g["weight_decay"] and not decoupled:
            return None  # Adam's L2 decay: not AdamW's arithmetic
        for p in g["params"]:
            out.append({"param": p, "lr": float(g["lr"]), "betas": tuple(float(b) for b in g["betas"]),
                        "eps": float(g["eps"]), "weight_decay": float(g["weight_decay"])})
    return out


def _alternatives(groups: list[dict], names: Mapping[int, str]) -> list[tuple[str, Callable[[dict], dict]]]:
    """(what the Flax side would have done, the change to one parameter's AdamW settings) for each optimizer
    default that differs between torch and optax or is easy to get wrong in a port."""
    wds = {g["weight_decay"] for g in groups}
    eps = groups[0]["eps"]
    b1, b2 = groups[0]["betas"]
    out = []
    decayed = [g for g in groups if g["weight_decay"]]
    if decayed and all(not math.isclose(g["weight_decay"], OPTAX_WEIGHT_DECAY) for g in decayed):
        wd = decayed[0]["weight_decay"]
        out.append((f"weight decay: the Flax parameters are AdamW's with weight_decay={OPTAX_WEIGHT_DECAY:g} "
                    f"(optax.adamw's default), torch's AdamW decays by {wd:g}: state weight_decay={wd:g} on the "
                    f"Flax side", lambda g: {**g, "weight_decay": OPTAX_WEIGHT_DECAY if g["weight_decay"] else 0.0}))
    if any(g["weight_decay"] and g["param"].ndim <= 1 for g in groups):
        wd = max(wds)
        out.append((f"weight decay on biases and norm parameters: the Flax side decays no 1-D tensor (an optax "
                     f"mask), torch's AdamW decays every parameter by {wd:g}: give both sides the same mask",
                     lambda g: {**g, "weight_decay": 0.0 if g["param"].ndim <= 1 else g["weight_decay"]}))
    if decayed and any(not g["weight_decay"] for g in groups):
        wd = decayed[0]["weight_decay"]
        skipped = sorted(names.get(id(g["param"]), "?") for g in groups if not g["weight_decay"])
        out.append((f"weight decay on every parameter: the Flax side also decays the tensors torch leaves undecayed "
                    f"({', '.join(skipped[:4])}{', ...' if len(skipped) > 4 else ''}) by {wd:g}: give both sides "
                    f"the same mask", lambda g, wd=wd: {**g, "weight_decay": wd}))
    if eps:
        out.append((f"epsilon inside the square root: the Flax update divides by sqrt(v_hat + {eps:g}) (optax's "
                    f"eps_root, eps=0), torch's by sqrt(v_hat) + {eps:g}: on the Flax side eps={eps:g}, eps_root=0",
                    lambda g: {**g, "eps_root": g["eps"], "eps": 0.0}))
        out.append((f"epsilon both inside and outside the square root: the Flax update divides by sqrt(v_hat + "
                    f"{eps:g}) + {eps:g} (optax's eps_root={eps:g}), torch's by sqrt(v_hat) + {eps:g}: eps_root=0 "
                    f"on the Flax side", lambda g: {**g, "eps_root": g["eps"]}))
    out.append(("no bias correction: the Flax update is lr * m / (sqrt(v) + eps), without Adam's 1 - b**t "
                "corrections, which torch's AdamW applies", lambda g: {**g, "bias_correction": False}))
    if b1 != b2:
        out.append((f"betas swapped: the Flax side runs b1={b2:g}, b2={b1:g}, torch's b1={b1:g}, b2={b2:g}",
                    lambda g: {**g, "betas": (g["betas"][1], g["betas"][0])}))
    return out


def _adamw_step(settings: list[dict], states: list[dict]) -> None:
    """One torch AdamW step (torch's single-tensor arithmetic, in its order), with the settings' changes:
    eps_root (added to v_hat under the square root) and bias_correction=False."""
    import torch

    with torch.no_grad():
        for g, s in zip(settings, states):
            p = g["param"]
            if p.grad is None:
                continue
            b1, b2 = g["betas"]
            s["step"] += 1
            p.mul_(1 - g["lr"] * g["weight_decay"])
            s["m"].lerp_(p.grad, 1 - b1)
            s["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            if g.get("bias_correction", True):
                bc1, bc2 = 1 - b1 ** s["step"], 1 - b2 ** s["step"]
            else:
                bc1 = bc2 = 1.0
            if g.get("eps_root"):
                denom = (s["v"] / bc2 + g["eps_root"]).sqrt().add_(g["eps"])
            else:
                denom = (s["v"].sqrt() / bc2 ** 0.5).add_(g["eps"])
            p.addcdiv_(s["m"], denom, value=-g["lr"] / bc1)


# --- the comparison ---

def compare_training(torch_module, flax_module, batches, *, steps: int = 20, optimizer: Any = "adamw",
                     lr: float = 1e-3, rules=None, loss: str | tuple[Callable, Callable] = "cross_entropy",
                     dtype: str | None = None, bound: float | None = None,
                     torch_kwargs: Mapping[str, Any] | None = None, flax_kwargs: Mapping[str, Any] | None = None,
                     causes: bool = True, name: str | None = None) -> TrainingReport:
    """Train copies of both modules `steps` steps from torch's weights on the same batches and compare every
    step (module docstring).

    batches: a list of (inputs, targets) numpy pairs (inputs one array or a tuple, passed positionally; step i
    takes batches[i % len(batches)]) or a callable step -> (inputs, targets), steps counted from 0, called once
    per step. optimizer:
    a name in RECIPES (lr stated on both sides) or (torch factory, optax transformation). loss: 'cross_entropy'
    (the first output's logits against integer targets), 'mse', or (torch_fn, flax_fn), each (first output,
    targets) -> scalar. dtype: 'float32' or 'float64' (default the torch module's); both sides train in it,
    float inputs and targets cast to it. bound: default BOUNDS[dtype] (growing with the steps in float32), a
    given one is fixed. causes=False skips the replays that
    name a cause. Both modules run with dropout off (a module with dropout is refused: the masks differ).
    """
    check_modules(torch_module, flax_module)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ParityInputError(f"compare_training: steps={steps!r}; expected an integer >= 1")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0 or not math.isfinite(lr):
        raise ParityInputError(f"compare_training: lr={lr!r}; expected a positive number")
    check_optimizer(optimizer)
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ParityInputError(f"compare_training: unknown loss {loss!r}; expected one of "
                                   f"{', '.join(LOSSES)}, or (torch_fn, flax_fn)")
        loss_fns = LOSSES[loss]
    elif isinstance(loss, (tuple, list)) and len(loss) == 2 and all(callable(f) for f in loss):
        loss_fns = tuple(loss)
    else:
        raise ParityInputError(f"compare_training: loss is a {type(loss).__name__}; expected one of "
                               f"{', '.join(LOSSES)}, or (torch_fn, flax_fn)")
    if callable(batches):
        get_batch = batches
    elif isinstance(batches, (list, tuple)) and batches:
        if len(batches) == 2 and not isinstance(batches[0], (tuple, list)) and _array(batches[0]) is not None:
            raise ParityInputError("compare_training: batches is one (inputs, targets) pair; pass a list of them "
                                   "([(inputs, targets)]) or a callable step -> (inputs, targets)")
        listed = list(batches)
        get_batch = lambda i: listed[i % len(listed)]  # noqa: E731
    else:
        what = "empty" if isinstance(batches, (list, tuple)) else f"a {type(batches).__name__}"
        raise ParityInputError(f"compare_training: batches is {what}; expected a list of (inputs, targets) numpy "
                               f"pairs or a callable step -> (inputs, targets)")
    if dtype is not None and dtype not in DTYPES:
        raise ParityInputError(f"compare_training: dtype={dtype!r}; expected one of {', '.join(DTYPES)}")
    if bound is not None and not (isinstance(bound, (int, float)) and bound > 0):
        raise ParityInputError(f"compare_training: bound={bound!r}; expected a positive number")
    from parity.rules import DEFAULT_RULES, Rules
    rules = DEFAULT_RULES if rules is None else rules
    if not isinstance(rules, Rules):
        raise ParityInputError(f"compare_training: rules is a {type(rules).__name__}; expected parity.rules.Rules "
                               f"(DEFAULT_RULES.extend(...))")
    found = _dropout(torch_module, flax_module)
    if found:
        raise ParityInputError(f"compare_training: {found} is dropout: train mode with dropout cannot be "
                               f"compared (the masks differ); build both modules with dropout 0")
    import torch

    if dtype is None:
        dtype = next((str(p.dtype).replace("torch.", "") for p in torch_module.parameters()
                      if p.dtype.is_floating_point), "float32")
        if dtype not in DTYPES:
            raise ParityInputError(f"compare_training: the torch module's parameters are {dtype}; pass dtype="
                                   f"'float32' or 'float64'")
    torch_factory, tx = _recipe(optimizer, float(lr)) if isinstance(optimizer, str) else optimizer
    what = (f"{optimizer} (torch.optim's defaults, lr {lr:g})" if isinstance(optimizer, str) else
            "the optimizers given")
    default_bound = bound is None
    bound = BOUNDS[dtype] if bound is None else float(bound)
    tdtype = getattr(torch, dtype)
    torch_kwargs, flax_kwargs = dict(torch_kwargs or {}), dict(flax_kwargs or {})

    fetched: dict[int, tuple] = {}  # each step's batch, fetched once: a stateful callable gives the same stream

    def batch(i):
        if i in fetched:
            return fetched[i]
        try:
            raw = get_batch(i)
        except ParityInputError:
            raise
        except Exception as err:
            raise ParityInputError(f"compare_training: the batches callable failed at step {i} "
                                   f"({_one_line(err)})") from None
        inputs, targets = _batch_arrays(raw, i)
        cast = lambda a: a.astype(dtype) if a.dtype.kind == "f" else a  # noqa: E731
        fetched[i] = tuple(cast(a) for a in inputs), cast(targets)
        return fetched[i]

    batch(0)  # a batch of the wrong form is refused before any work
    # torch: a copy of the module, in its own training mode, in dtype
    start = copy.deepcopy(torch_module).to(tdtype)
    start.train()
    tmod = copy.deepcopy(start)
    t_opt = torch_factory(tmod.parameters())
    if not hasattr(t_opt, "step") or not hasattr(t_opt, "zero_grad"):
        raise ParityInputError(f"compare_training: the torch factory returned a {type(t_opt).__name__}; expected "
                               f"a torch.optim.Optimizer")
    keys = [k for k, p in tmod.named_parameters() if p.requires_grad]

    def torch_step(module, i, inputs, targets, step_fn):
        module.zero_grad(set_to_none=True)
        try:
            out = _first(module(*[torch.as_tensor(a) for a in inputs], **torch_kwargs))
            value = loss_fns[0](out, torch.as_tensor(targets))
        except Exception as err:
            raise ParityInputError(f"compare_training: step {i}: the torch module cannot run the batch (inputs "
                                   f"{', '.join(str(a.shape) for a in inputs)}, targets {targets.shape}): "
                                   f"{_one_line(err)}") from None
        value.backward()
        step_fn()
        return float(value.detach())

    state0 = {k: v.detach().cpu().numpy().copy() for k, v in start.state_dict().items()}
    report = TrainingReport(name or f"{type(torch_module).__name__} vs {type(flax_module).__name__}", dtype,
                            what, bound, SCALED[dtype], GROWTH_STEPS.get(dtype, 0) if default_bound else 0)
    snapshot = None  # (step, torch params, Flax params) at the first divergence
    for i in range(steps):
        inputs, targets = batch(i)
        t_loss = torch_step(tmod, i, inputs, targets, t_opt.step)
        if i == 0:  # after torch has run the first batch: a batch that fits no model is named as torch's
            run_flax, params, flax_torch_layout, notes = _flax_side(flax_module, state0, rules, inputs,
                                                                    flax_kwargs, loss_fns, tx, dtype)
            report.notes += notes
        f_loss, params = run_flax(params, inputs, targets, i)
        got = flax_torch_layout(params)
        want = {k: p.detach().cpu().numpy() for k, p in tmod.named_parameters() if k in keys}
        missing = [k for k in want if k not in got]
        if missing:
            report.problems.append(f"parameters exist in torch only: {', '.join(missing[:5])}")
            break
        diffs = {k: report.judged(got[k], want[k]) for k in want}
        worst = max(diffs, key=lambda k: diffs[k] if not math.isnan(diffs[k]) else math.inf) if diffs else "-"
        loss_diff = report.judged(f_loss, t_loss) if math.isfinite(t_loss) and math.isfinite(f_loss) else math.inf
        report.rows.append(StepRow(i + 1, t_loss, f_loss, loss_diff, diffs.get(worst, 0.0), worst))
        if snapshot is None and report.first_divergence is not None:
            snapshot = (i + 1, {k: v.copy() for k, v in want.items()}, {k: got[k] for k in want})
    if snapshot is not None and causes:
        report.causes, note = _causes(snapshot, start, t_opt, torch_factory, batch, torch_step, report)
        report.notes += note
    return report


def _max_abs(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return math.inf
    return float(np.max(np.abs(a - b))) if a.size else 0.0


# Compiled programs kept across calls (a porter's test file trains the same pair in several checks): the
# gradient program per (module, loss, keywords, dtype), the update per optax transformation. At 20 steps
# compiling costs more than running, so XLA's LLVM backend runs at optimisation level 0 (about half the compile
# time on a CPU). The level changes the machine code, not the operations: float32 results move by roundoff, as
# they do with a thread count, within the float32 bound's budget (module docstring); set this to {} for XLA's
# default.
COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}
_CACHE: dict = {}
_CACHE_SIZE = 32


def _cached(key, make):
    try:
        hash(key)
    except TypeError:
        return make()
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = make()
    return _CACHE[key]


def _grad_program(key, make, kwargs: Mapping[str, Any], static: int):
    """make() -> value_and_grad(*args, kwargs), jitted with the keywords static: (*args) -> (value, grads), kept
    in the cache when the keywords can be hashed, compiled afresh (the keywords closed over) otherwise."""
    import jax

    frozen = tuple(sorted(kwargs.items()))
    try:
        hash(frozen)
    except TypeError:
        fn = make()
        return jax.jit(lambda *args: fn(*args, frozen), compiler_options=COMPILER_OPTIONS)
    program = _cached(key, lambda: jax.jit(make(), static_argnums=static, compiler_options=COMPILER_OPTIONS))
    return lambda *args: program(*args, frozen)


def _flax_side(flax_module, state0, rules, example, flax_kwargs, loss_fns, tx, dtype):
    """(step function (params, inputs, targets, i) -> (loss, new params), the starting params, params -> torch
    layout dict) for a linen or an NNX module, its parameters torch's."""
    import jax
    import jax.numpy as jnp
    import optax

    from parity.bridge import abstract_params, flax_to_torch, torch_to_flax

    x64 = dtype == "float64"
    notes: list[str] = []

    def loss_of(out, targets):
        return loss_fns[1](_first(out), targets)

    with jax.enable_x64(x64):
        if _kind(flax_module) == "nnx":
            from flax import nnx

            from parity.nnx import nnx_params, torch_to_nnx

            if list(nnx.to_flat_state(nnx.state(flax_module, nnx.BatchStat))):
                raise ParityInputError("compare_training: the NNX module holds BatchStat variables: training with "
                                       "state beyond the parameters is not compared yet")
            model = nnx.clone(flax_module)
            template = nnx_params(model)
            rules = rules.bind(template, state0) if hasattr(rules, "bind") else rules
            try:
                torch_to_nnx(state0, model, rules)
            except ValueError as err:
                raise ParityInputError(f"compare_training: {err}") from None
            for path, m in nnx.iter_graph(model):
                own = getattr(m, "dtype", None) if isinstance(m, nnx.Module) else None
                if own is not None and jnp.dtype(own) != jnp.dtype(dtype):
                    notes.append(f"the NNX module's {'.'.join(map(str, path)) or '(model)'} "
                                 f"({type(m).__name__}) computes in {jnp.dtype(own)} (its dtype attribute), "
                                 f"not {dtype}: build it with dtype=jnp.{dtype}")
            graphdef, state, rest = nnx.split(model, nnx.Param, ...)
            params = nnx.to_pure_dict(state)

            def make():
                def scalar(p, template, rest, inputs, targets, kwargs):
                    s = jax.tree_util.tree_map(lambda v: v, template)
                    nnx.replace_by_pure_dict(s, p)
                    return loss_of(nnx.merge(graphdef, s, rest, copy=True)(*inputs, **dict(kwargs)), targets)
                return jax.value_and_grad(scalar)

            grad_fn = _grad_program(("nnx", graphdef, loss_fns[1], x64), make, flax_kwargs, 5)

            def value_and_grad(p, inputs, targets):
                return grad_fn(p, state, rest, inputs, targets)

            def to_torch(p):
                s = jax.tree_util.tree_map(lambda v: v, state)
                nnx.replace_by_pure_dict(s, p)
                m = nnx.merge(graphdef, s, rest, copy=True)
                return flax_to_torch(jax.tree_util.tree_map(np.asarray, nnx_params(m)), rules)
        else:
            try:
                shapes = jax.eval_shape(lambda: flax_module.init(jax.random.key(0), *map(jnp.asarray, example),
                                                                 **flax_kwargs))
            except Exception as err:
                raise _flax_error(err, 0, example) from None
            other = sorted(k for k in shapes if k != "params")
            if other:
                raise ParityInputError(f"compare_training: the linen module has the collections {other} beside its "
                                       f"params: training with state beyond the parameters is not compared yet")
            template = abstract_params(flax_module, *map(jnp.asarray, example), **flax_kwargs)
            rules = rules.bind(template, state0) if hasattr(rules, "bind") else rules
            try:
                params = torch_to_flax(state0, template, rules)
            except ValueError as err:
                raise ParityInputError(f"compare_training: {err}") from None

            def make():
                def scalar(p, inputs, targets, kwargs):
                    return loss_of(flax_module.apply({"params": p}, *inputs, **dict(kwargs)), targets)
                return jax.value_and_grad(scalar)

            grad_fn = _grad_program(("linen", flax_module, loss_fns[1], x64), make, flax_kwargs, 3)

            def value_and_grad(p, inputs, targets):
                return grad_fn(p, inputs, targets)

            def to_torch(p):
                return flax_to_torch(jax.tree_util.tree_map(np.asarray, p), rules)

        def make_update():
            def update(grads, o, p):
                updates, o = tx.update(grads, o, p)
                return optax.apply_updates(p, updates), o
            return jax.jit(update, compiler_options=COMPILER_OPTIONS)

        update = _cached(("update", tx, x64), make_update)
        params = jax.tree_util.tree_map(jnp.asarray, params)
        opt_state = [tx.init(params)]

    def run(p, inputs, targets, i):
        with jax.enable_x64(x64):
            try:
                value, grads = value_and_grad(p, tuple(map(jnp.asarray, inputs)), jnp.asarray(targets))
            except ParityInputError:
                raise
            except Exception as err:
                raise _flax_error(err, i, inputs) from None
            p, opt_state[0] = update(grads, opt_state[0], p)
            return float(value), p

    def layout(p):
        with jax.enable_x64(x64):
            return to_torch(p)

    return run, params, layout, notes


def _flax_error(err: BaseException, i: int, inputs) -> ParityInputError:
    if "PRNG" in str(err) or "Rng" in type(err).__name__:
        return ParityInputError("compare_training: the Flax module asks for an rng (dropout in training mode): train "
                                "mode with dropout cannot be compared (the masks differ); pass flax_kwargs="
                                "{'deterministic': True} or build it without dropout")
    return ParityInputError(f"compare_training: step {i}: the Flax module cannot run the batch (inputs "
                            f"{', '.join(str(np.shape(a)) for a in inputs)}): {_one_line(err)}")


def _causes(snapshot, start, t_opt, torch_factory, batch, torch_step, report):
    """Likely causes of the first divergence: the torch side trained again, up to the diverging step, with
    each alternative; those whose parameters the Flax ones are (CLOSER) are named, best first."""
    import torch

    step, torch_at, flax_at = snapshot
    first = report.first_divergence
    if first is not None and first[:2] == (1, "loss"):
        return ["the loss differs at step 1, computed from the same weights on both sides: the forward passes "
                "differ, not the optimizers; compare() the pair on the first batch to find the layer"], []
    to_torch = _max_abs_all(torch_at, flax_at)
    trial = copy.deepcopy(start)
    groups = _torch_adamw_groups(torch_factory(trial.parameters()))
    if groups is None:
        return [], [f"no optimizer cause tried: the torch optimizer is a {type(t_opt).__name__} (the causes are "
                    f"AdamW's defaults)"]
    tnames = {id(p): k for k, p in trial.named_parameters()}
    found = []
    for text, change in _alternatives(groups, tnames):
        module = copy.deepcopy(start)
        params = dict(module.named_parameters())
        settings = [change({**g, "param": params[tnames[id(g["param"])]]}) for g in groups]
        states = [{"step": 0, "m": torch.zeros_like(g["param"]), "v": torch.zeros_like(g["param"])}
                  for g in settings]
        for i in range(step):
            inputs, targets = batch(i)
            torch_step(module, i, inputs, targets, lambda: _adamw_step(settings, states))
        alt = {k: p.detach().cpu().numpy() for k, p in module.named_parameters() if k in flax_at}
        d = _max_abs_all(alt, flax_at)
        if to_torch > 0 and d <= CLOSER * to_torch:
            found.append((d, text + f" (trained so, torch's parameters at step {step} are {d:.1e} from Flax's, "
                                    f"against {to_torch:.1e})"))
    if not found:
        return [], [f"no optimizer default fits (weight decay, its mask, epsilon's place, bias correction, betas): "
                    f"compare the gradients, compare(..., loss=..., targets=...) on batch {step - 1}"]
    best = min(d for d, _ in found)  # one that fits far better than another (by the same factor) is named alone
    return [text for d, text in sorted(found, key=lambda f: f[0]) if d * CLOSER <= best], []


def _max_abs_all(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    return max((_max_abs(a[k], b[k]) for k in a if k in b), default=0.0)

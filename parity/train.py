"""Training trajectories for any torch/Flax pair: N optimizer steps on each side from torch's weights (carried by
the rules), on the same batches, on copies of the modules, the loss (before each update) and every parameter
(after it, the Flax ones in torch's layout) compared at every step:

    report = compare_training(torch_model, flax_model, batches, steps=20)   # torch's AdamW defaults, both sides
    assert report.ok, report

The report names the first step and parameter (or the loss) out of the bound and, for a torch AdamW, the
optimizer default that explains it (`likely cause:`), decided numerically: torch trained again to that step with
each alternative, named where the Flax parameters are that alternative's (CLOSER).

Bounds (BOUNDS), on the loss and every parameter at every step:
- float64: max |diff| <= 1e-9, the project's NanoGPT trajectory bound (tests/parity/test_trajectory.py).
- float32: max |diff| / max(1, max |torch value|) <= 1e-5 * max(1, step / 20): roundoff, not a tolerance picked
  to pass. Per step two correct implementations part by an ulp of each parameter (2**-24 |p|) and by the
  update's roundoff: Adam's step is normalised, so a gradient summed in another order (n * 2**-24 relative, n <=
  1e3 terms) moves an lr step by ~1e-4 of it, 1e-7 at lr 1e-3: 1.6e-7 a step, 3.2e-6 in 20 steps, and 1e-5 leaves
  a factor 3 for the trajectory's growth; both terms scale with the magnitude above 1, hence the division. It
  holds where gradients are above roundoff (Adam turns a roundoff gradient's sign into a full lr step).
"""
import copy
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from parity.check import LOSSES as CHECK_LOSSES, ParityInputError, _check_modules, _dtype_of
from parity.nnx import is_nnx
from parity.trace import first_array

BOUNDS = {"float64": 1e-9, "float32": 1e-5}
GROWTH_STEPS = {"float32": 20}  # the bound covers this many steps of roundoff, and grows in proportion beyond
CLOSER = 0.1  # an alternative fits when the Flax parameters are 10 times closer to it than to torch's
RECIPES = ("adamw",)
OPTAX_WEIGHT_DECAY = 1e-4  # optax.adamw's default (torch.optim.AdamW's is 1e-2)
# XLA's LLVM backend at level 0: at 20 steps compiling costs more than running. The machine code changes, not the
# operations: float32 results move by roundoff (as with a thread count), within the bound's budget; {}: XLA's default
COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


@functools.lru_cache(maxsize=32)
def torch_adamw(learning_rate: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                weight_decay: float = 1e-2):
    """torch.optim.AdamW (amsgrad off) as an optax GradientTransformation, in torch's order of operations:
    decoupled weight decay p * (1 - lr * wd) on every parameter, eps added outside the square root, bias
    corrections 1 - b**t as -expm1(t log b), accurate to an ulp."""
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


# (first output, targets) -> scalar, on each side; mse's one expression serves torch tensors and jax arrays alike
LOSSES = {"cross_entropy": CHECK_LOSSES["cross_entropy"], "mse": (lambda out, t: ((out - t) ** 2).mean(),) * 2}


@dataclass
class StepRow:
    """One step: the losses (before the update), the judged differences of the loss and the worst parameter."""
    step: int
    torch_loss: float
    flax_loss: float
    loss_diff: float
    param_diff: float
    param_key: str  # the torch key of the worst parameter


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
        if a.shape != b.shape or not a.size:
            return math.inf if a.shape != b.shape else 0.0
        diff = float(np.max(np.abs(a - b)))
        return diff / max(1.0, float(np.max(np.abs(b)))) if self.scaled else diff

    @property
    def first_divergence(self) -> tuple[int, str, float] | None:
        """(step, 'loss' or the torch key of the worst parameter, its judged difference) of the first step above
        the bound; the loss where it is over (it is computed before the step's update)."""
        for r in self.rows:
            for what, diff in (("loss", r.loss_diff), (r.param_key, r.param_diff)):
                if not diff <= self.bound_at(r.step):
                    return r.step, what, diff
        return None

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.problems and self.first_divergence is None

    def table(self) -> str:
        measure = "max |diff| / max(1, max |torch value|)" if self.scaled else "max |diff|"
        growth = f" * max(1, step / {self.growth})" if self.growth else ""
        lines = [f"training parity of {self.component} [{self.dtype}], {self.optimizer}, {len(self.rows)} steps: "
                 f"{'pass' if self.ok else 'FAIL'}",
                 f"bound: {measure} <= {self.bound:.0e}{growth} on the loss (before the step's update) and on every "
                 f"parameter (after it), in torch's layout",
                 f"  {'step':>4}  {'torch loss':>12}  {'flax loss':>12}  {'loss diff':>9}  {'param diff':>10}  "
                 f"worst parameter"]
        first = self.first_divergence
        for r in self.rows:
            over = not (r.loss_diff <= self.bound_at(r.step) and r.param_diff <= self.bound_at(r.step))
            mark = "  <-- first divergence" if first and r.step == first[0] else "  FAIL" if over else ""
            lines.append(f"  {r.step:>4}  {r.torch_loss:12.6f}  {r.flax_loss:12.6f}  {r.loss_diff:9.2e}  "
                         f"{r.param_diff:10.2e}  {r.param_key}{mark}")
        if first is None:
            lines.append(f"every step within the bound: loss {max((r.loss_diff for r in self.rows), default=0):.2e}, "
                         f"parameters {max((r.param_diff for r in self.rows), default=0):.2e} at most")
        else:
            name = "the loss" if first[1] == "loss" else f"parameter {first[1]!r}"
            lines.append(f"first divergence: step {first[0]}, {name}: {measure} {first[2]:.3e} exceeds bound "
                         f"{self.bound_at(first[0]):.1e}")
        lines += [f"likely cause: {c}" for c in self.causes]
        return "\n".join(lines + self.problems + self.notes)

    __str__ = table


def _array(x) -> np.ndarray | None:
    """x as a numpy array of numbers (a torch tensor's values), None where it is none."""
    try:
        a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    except Exception:
        return None
    return a if a.dtype.kind in "biuf" else None


def _batch_arrays(batch, step: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    where = f"compare_training: batch for step {step}"
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        what = f"a {type(batch).__name__}" + (f" of {len(batch)} items" if isinstance(batch, (tuple, list)) else "")
        raise ParityInputError(f"{where} is {what}; expected a pair (inputs, targets) of numpy arrays (inputs may "
                               f"be a tuple of arrays)")
    inputs, targets = batch
    items = [*(inputs if isinstance(inputs, tuple) else (inputs,)), targets]
    arrays = [_array(x) for x in items]
    for i, (x, a) in enumerate(zip(items, arrays)):
        if a is None:
            what = "targets are" if i == len(items) - 1 else f"input {i} is"
            raise ParityInputError(f"{where}: {what} a {type(x).__name__}; expected a numpy array")
    return tuple(arrays[:-1]), arrays[-1]


def _dropout(torch_module, flax_module) -> str | None:
    """The first dropout layer with a rate above 0 in either module, named; None when there is none."""
    for name, m in torch_module.named_modules():
        rate = m.p if any(c.__name__ == "_DropoutNd" for c in type(m).__mro__) else getattr(m, "dropout", None)
        if isinstance(rate, (int, float)) and rate > 0:  # nn.MultiheadAttention keeps its rate as `dropout`
            return f"torch's {name or '(model)'} ({type(m).__name__}, {'p' if hasattr(m, 'p') else 'dropout'}={rate})"
    if is_nnx(flax_module):
        from flax import nnx
        for path, m in nnx.iter_graph(flax_module):
            if isinstance(m, nnx.Dropout) and m.rate > 0 and not m.deterministic:
                return f"the NNX module's {'.'.join(map(str, path)) or '(model)'} (nnx.Dropout, rate={m.rate})"
    return None


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def _alternatives(groups: list[dict], names: Mapping[int, str]) -> list[tuple[str, Callable[[dict], dict]]]:
    """(what the Flax side would have done, the change to one parameter's AdamW settings) for each optimizer
    default that differs between torch and optax or is easy to get wrong in a port."""
    eps = groups[0]["eps"]
    decayed = [g for g in groups if g["weight_decay"]]
    wd = decayed[0]["weight_decay"] if decayed else 0.0
    out = []
    if decayed and all(not math.isclose(g["weight_decay"], OPTAX_WEIGHT_DECAY) for g in decayed):
        out.append((f"weight decay: the Flax parameters are AdamW's with weight_decay={OPTAX_WEIGHT_DECAY:g} "
                    f"(optax.adamw's default), torch's AdamW decays by {wd:g}: state weight_decay={wd:g} on the "
                    f"Flax side", lambda g: {**g, "weight_decay": OPTAX_WEIGHT_DECAY if g["weight_decay"] else 0.0}))
    if any(g["param"].ndim <= 1 for g in decayed):
        out.append((f"weight decay on biases and norm parameters: the Flax side decays no 1-D tensor (an optax "
                     f"mask), torch's AdamW decays every parameter by {max(g['weight_decay'] for g in decayed):g}: "
                     f"give both sides the same mask",
                     lambda g: {**g, "weight_decay": 0.0 if g["param"].ndim <= 1 else g["weight_decay"]}))
    if decayed and len(decayed) < len(groups):
        skipped = sorted(names.get(id(g["param"]), "?") for g in groups if not g["weight_decay"])
        out.append((f"weight decay on every parameter: the Flax side also decays the tensors torch leaves undecayed "
                    f"({', '.join(skipped[:4])}{', ...' if len(skipped) > 4 else ''}) by {wd:g}: give both sides "
                    f"the same mask", lambda g: {**g, "weight_decay": wd}))
    if eps:
        out.append((f"epsilon inside the square root: the Flax update divides by sqrt(v_hat + {eps:g}) (optax's "
                    f"eps_root, eps=0), torch's by sqrt(v_hat) + {eps:g}: on the Flax side eps={eps:g}, eps_root=0",
                    lambda g: {**g, "eps_root": g["eps"], "eps": 0.0}))
    out.append(("no bias correction: the Flax update is lr * m / (sqrt(v) + eps), without Adam's 1 - b**t "
                "corrections, which torch's AdamW applies", lambda g: {**g, "bias_correction": False}))
    return out


def _adamw_step(settings: list[dict], states: list[dict]) -> None:
    """One torch AdamW step (torch's single-tensor arithmetic, in its order), with the settings' changes:
    eps_root (added to v_hat under the square root) and bias_correction=False."""
    import torch
    with torch.no_grad():
        for g, s in zip(settings, states):
            p, (b1, b2) = g["param"], g["betas"]
            if p.grad is None:
                continue
            s["step"] += 1
            p.mul_(1 - g["lr"] * g["weight_decay"])
            s["m"].lerp_(p.grad, 1 - b1)
            s["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            bc1, bc2 = (1 - b1 ** s["step"], 1 - b2 ** s["step"]) if g.get("bias_correction", True) else (1.0, 1.0)
            denom = ((s["v"] / bc2 + g["eps_root"]).sqrt() if g.get("eps_root") else s["v"].sqrt() / bc2 ** 0.5
                     ).add_(g["eps"])
            p.addcdiv_(s["m"], denom, value=-g["lr"] / bc1)


def _causes(snapshot, start, torch_factory, batch, torch_step, report) -> tuple[list[str], list[str]]:
    """(likely causes, notes) of the first divergence: the torch side trained again, up to the diverging step,
    with each alternative; those whose parameters the Flax ones are (CLOSER) are named, best first."""
    import torch
    step, torch_at, flax_at = snapshot
    if report.first_divergence[:2] == (1, "loss"):
        return ["the loss differs at step 1, computed from the same weights on both sides: the forward passes "
                "differ, not the optimizers; compare() the pair on the first batch to find the layer"], []
    trial = copy.deepcopy(start)
    opt = torch_factory(trial.parameters())
    adam = opt.param_groups if isinstance(opt, torch.optim.Adam) else []  # AdamW is an Adam
    coupled = [g for g in adam if g["weight_decay"] and not g.get("decoupled_weight_decay",
                                                                  isinstance(opt, torch.optim.AdamW))]
    if not adam or coupled or any(g.get("amsgrad") or g.get("maximize") for g in adam):  # L2 decay: not AdamW's
        return [], [f"no optimizer cause tried: the torch optimizer is a {type(opt).__name__} (the causes are "
                    f"AdamW's defaults)"]
    groups = [{"param": p, "lr": float(g["lr"]), "betas": tuple(map(float, g["betas"])), "eps": float(g["eps"]),
               "weight_decay": float(g["weight_decay"])} for g in opt.param_groups for p in g["params"]]
    to_torch, tnames, found = _distance(torch_at, flax_at), {id(p): k for k, p in trial.named_parameters()}, []
    for text, change in _alternatives(groups, tnames):
        module = copy.deepcopy(start)
        params = dict(module.named_parameters())
        settings = [change({**g, "param": params[tnames[id(g["param"])]]}) for g in groups]
        states = [{"step": 0, "m": torch.zeros_like(g["param"]), "v": torch.zeros_like(g["param"])} for g in settings]
        for i in range(step):
            torch_step(module, i, *batch(i), lambda: _adamw_step(settings, states))
        d = _distance({k: p.detach().cpu().numpy() for k, p in module.named_parameters()}, flax_at)
        if to_torch > 0 and d <= CLOSER * to_torch:
            found.append((d, text + f" (trained so, torch's parameters at step {step} are {d:.1e} from Flax's, "
                                    f"against {to_torch:.1e})"))
    if not found:
        return [], [f"no optimizer default fits (weight decay, its mask, epsilon's place, bias correction): "
                    f"compare the gradients, compare(..., loss=..., targets=...) on batch {step - 1}"]
    best = min(d for d, _ in found)  # one that fits far better than another (by the same factor) is named alone
    return [text for d, text in sorted(found, key=lambda f: f[0]) if d * CLOSER <= best], []


def _distance(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """max |a - b| over the keys both have (inf for another shape)."""
    diffs = [(np.asarray(a[k], np.float64), np.asarray(b[k], np.float64)) for k in a if k in b]
    return max((float(np.max(np.abs(x - y), initial=0.0)) if x.shape == y.shape else math.inf for x, y in diffs),
               default=0.0)


def compare_training(torch_module, flax_module, batches, *, steps: int = 20, optimizer: Any = "adamw",
                     lr: float = 1e-3, rules=None, loss: str | tuple[Callable, Callable] = "cross_entropy",
                     dtype: str | None = None, bound: float | None = None,
                     torch_kwargs: Mapping[str, Any] | None = None, flax_kwargs: Mapping[str, Any] | None = None,
                     causes: bool = True, name: str | None = None) -> TrainingReport:
    """Train copies of both modules `steps` steps on the same batches and compare every step (module docstring).

    batches: a list of (inputs, targets) numpy pairs (inputs one array or a tuple, passed positionally; step i
    takes batches[i % len(batches)]) or a callable step -> (inputs, targets), called once per step. optimizer:
    "adamw": torch.optim.AdamW's defaults on the torch side, `torch_adamw` (the optax transformation with
    torch's arithmetic) on the Flax side; or (torch factory `lambda params: torch.optim.X(params, ...)`, optax
    GradientTransformation), which sees an NNX module's parameters as nnx.to_pure_dict(nnx.state(m, nnx.Param)).
    loss: 'cross_entropy', 'mse' or (torch_fn, flax_fn), each (first output, targets) -> scalar. dtype: float32 or
    float64 (default the torch module's), inputs cast to it. bound: default BOUNDS[dtype], a given one fixed.
    causes=False skips the replays that name a cause. A module with active dropout is refused (the masks differ).
    """
    import jax
    import torch
    from parity.rules import DEFAULT_RULES, Rules
    _check_modules(torch_module, flax_module, ())
    refuse = lambda text: ParityInputError(f"compare_training: {text}")  # noqa: E731
    pair = "or (torch factory `lambda params: torch.optim.X(params, ...)`, optax GradientTransformation)"
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise refuse(f"steps={steps!r}; expected an integer >= 1")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise refuse(f"lr={lr!r}; expected a positive number")
    if isinstance(optimizer, str) and optimizer not in RECIPES:
        raise refuse(f"unknown optimizer {optimizer!r}; expected one of {', '.join(RECIPES)}, {pair}")
    if not isinstance(optimizer, str) and not (isinstance(optimizer, (tuple, list)) and len(optimizer) == 2 and
                                               callable(optimizer[0]) and hasattr(optimizer[1], "update")):
        raise refuse(f"optimizer is a {type(optimizer).__name__}; expected one of {', '.join(RECIPES)}, {pair}")
    losses = f"expected one of {', '.join(LOSSES)}, or (torch_fn, flax_fn)"
    if isinstance(loss, str) and loss not in LOSSES:
        raise refuse(f"unknown loss {loss!r}; {losses}")
    if not isinstance(loss, str) and not (isinstance(loss, (tuple, list)) and len(loss) == 2
                                          and all(map(callable, loss))):
        raise refuse(f"loss is a {type(loss).__name__}; {losses}")
    loss_fns = LOSSES[loss] if isinstance(loss, str) else tuple(loss)
    if isinstance(batches, (list, tuple)) and len(batches) == 2 and not isinstance(batches[0], (tuple, list)) \
            and _array(batches[0]) is not None:
        raise refuse("batches is one (inputs, targets) pair; pass a list of them ([(inputs, targets)]) or a "
                     "callable step -> (inputs, targets)")
    if not (callable(batches) or isinstance(batches, (list, tuple)) and batches):
        raise refuse(f"batches is {'empty' if isinstance(batches, (list, tuple)) else f'a {type(batches).__name__}'}"
                     f"; expected a list of (inputs, targets) numpy pairs or a callable step -> (inputs, targets)")
    if dtype is not None and dtype not in BOUNDS:
        raise refuse(f"dtype={dtype!r}; expected one of {', '.join(BOUNDS)}")
    if bound is not None and not (isinstance(bound, (int, float)) and bound > 0):
        raise refuse(f"bound={bound!r}; expected a positive number")
    rules = DEFAULT_RULES if rules is None else rules
    if not isinstance(rules, Rules):
        raise refuse(f"rules is a {type(rules).__name__}; expected parity.rules.Rules (DEFAULT_RULES.extend(...))")
    if _dropout(torch_module, flax_module):
        raise refuse(f"{_dropout(torch_module, flax_module)} is dropout: train mode with dropout cannot be "
                     f"compared (the masks differ); build both modules with dropout 0")
    dtype = dtype or _dtype_of(torch_module, [])
    if dtype not in BOUNDS:
        raise refuse(f"the torch module's parameters are {dtype}; pass dtype='float32' or 'float64'")
    if isinstance(optimizer, str):  # "adamw": torch.optim.AdamW's defaults
        lr = float(lr)
        optimizer = (lambda p: torch.optim.AdamW(p, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2),
                     torch_adamw(lr, 0.9, 0.999, 1e-8, 1e-2))
        what = f"adamw (torch.optim's defaults, lr {lr:g})"
    else:
        what = "the optimizers given"
    torch_factory, tx = optimizer
    torch_kwargs, flax_kwargs = dict(torch_kwargs or {}), dict(flax_kwargs or {})
    fetched: dict[int, tuple] = {}  # each step's batch, fetched once: a stateful callable gives the same stream

    def batch(i):
        if i not in fetched:
            try:
                raw = batches(i) if callable(batches) else batches[i % len(batches)]
            except ParityInputError:
                raise
            except Exception as err:
                raise refuse(f"the batches callable failed at step {i} ({_one_line(err)})") from None
            inputs, targets = _batch_arrays(raw, i)
            cast = lambda a: a.astype(dtype) if a.dtype.kind == "f" else a  # noqa: E731
            fetched[i] = tuple(map(cast, inputs)), cast(targets)
        return fetched[i]

    def torch_step(module, i, inputs, targets, step_fn):
        module.zero_grad(set_to_none=True)
        try:
            out = first_array(module(*map(torch.as_tensor, inputs), **torch_kwargs))
            value = loss_fns[0](out, torch.as_tensor(targets))
        except Exception as err:
            raise refuse(f"step {i}: the torch module cannot run the batch (inputs "
                         f"{', '.join(str(a.shape) for a in inputs)}, targets {targets.shape}): {_one_line(err)}") \
                from None
        value.backward()
        step_fn()
        return float(value.detach())

    batch(0)  # a batch of the wrong form is refused before any work
    start = copy.deepcopy(torch_module).to(getattr(torch, dtype)).train()  # torch trains a copy, in dtype
    tmod = copy.deepcopy(start)
    t_opt = torch_factory(tmod.parameters())
    if not hasattr(t_opt, "step") or not hasattr(t_opt, "zero_grad"):
        raise refuse(f"the torch factory returned a {type(t_opt).__name__}; expected a torch.optim.Optimizer")
    state0 = {k: v.detach().cpu().numpy().copy() for k, v in start.state_dict().items()}
    report = TrainingReport(name or f"{type(torch_module).__name__} vs {type(flax_module).__name__}", dtype, what,
                            BOUNDS[dtype] if bound is None else float(bound), dtype == "float32",
                            GROWTH_STEPS.get(dtype, 0) if bound is None else 0)
    snapshot = None  # (step, torch params, Flax params) at the first divergence
    with jax.enable_x64(dtype == "float64"):
        for i in range(steps):
            inputs, targets = batch(i)
            t_loss = torch_step(tmod, i, inputs, targets, t_opt.step)
            if i == 0:  # after torch has run the first batch: a batch that fits no model is named as torch's
                flax_step, to_torch = _flax_side(flax_module, state0, rules, inputs, flax_kwargs, loss_fns[1], tx,
                                                 dtype, report.notes)
            f_loss, got = flax_step(inputs, targets, i), to_torch()
            want = {k: p.detach().cpu().numpy() for k, p in tmod.named_parameters() if p.requires_grad}
            missing = [k for k in want if k not in got]
            if missing:
                report.problems.append(f"parameters exist in torch only: {', '.join(missing[:5])}")
                break
            diffs = {k: report.judged(got[k], want[k]) for k in want}
            worst = max(diffs, key=lambda k: math.inf if math.isnan(diffs[k]) else diffs[k]) if diffs else "-"
            loss_diff = report.judged(f_loss, t_loss) if math.isfinite(t_loss + f_loss) else math.inf
            report.rows.append(StepRow(i + 1, t_loss, f_loss, loss_diff, diffs.get(worst, 0.0), worst))
            if snapshot is None and report.first_divergence is not None:
                snapshot = (i + 1, {k: v.copy() for k, v in want.items()}, {k: got[k] for k in want})
    if snapshot is not None and causes:
        report.causes, notes = _causes(snapshot, start, torch_factory, batch, torch_step, report)
        report.notes += notes
    return report


@functools.lru_cache(maxsize=None)
def _programs():
    """The jitted (value, gradient) and update programs, kept across calls (a porter's test file trains the same
    pair in several checks): the module (or NNX graph), loss, keywords and optax transformation static."""
    import jax
    import optax
    def scalar(p, extra, inputs, targets, model, loss_fn, kwargs):
        if extra is None:  # linen
            return loss_fn(first_array(model.apply({"params": p}, *inputs, **dict(kwargs))), targets)
        from flax import nnx
        state, rest = extra
        s = jax.tree_util.tree_map(lambda v: v, state)
        nnx.replace_by_pure_dict(s, p)
        return loss_fn(first_array(nnx.merge(model, s, rest, copy=True)(*inputs, **dict(kwargs))), targets)

    def update(tx, grads, opt_state, p):
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state

    grad = jax.value_and_grad(scalar)
    return (grad, jax.jit(grad, static_argnums=(4, 5, 6), compiler_options=COMPILER_OPTIONS),
            jax.jit(update, static_argnums=0, compiler_options=COMPILER_OPTIONS))


def _flax_side(flax_module, state0, rules, example, flax_kwargs, loss_fn, tx, dtype, notes):
    """(step (inputs, targets, i) -> the loss before the update, () -> the parameters in torch's layout) for a
    linen or NNX module, started from torch's weights state0."""
    import jax
    import jax.numpy as jnp
    from parity.bridge import flax_to_torch, torch_to_flax
    nnx_model = is_nnx(flax_module)
    if nnx_model:
        from flax import nnx
        from parity.nnx import nnx_params, torch_to_nnx
        if list(nnx.to_flat_state(nnx.state(flax_module, nnx.BatchStat))):
            raise ParityInputError("compare_training: the NNX module holds BatchStat variables: training with "
                                   "state beyond the parameters is not compared yet")
        model = nnx.clone(flax_module)
        template = nnx_params(model)
    else:
        try:
            shapes = jax.eval_shape(lambda: flax_module.init(jax.random.key(0), *map(jnp.asarray, example),
                                                             **flax_kwargs))
        except Exception as err:
            raise _flax_error(err, 0, example) from None
        if set(shapes) - {"params"}:
            raise ParityInputError(f"compare_training: the linen module has the collections "
                                   f"{sorted(set(shapes) - {'params'})} beside its params: training with state "
                                   f"beyond the parameters is not compared yet")
        model, template = flax_module, shapes.get("params", {})
    rules = rules.bind(template, state0)
    try:
        params = torch_to_nnx(state0, model, rules) if nnx_model else torch_to_flax(state0, template, rules)
    except ValueError as err:
        raise ParityInputError(f"compare_training: {err}") from None
    extra, layout = None, lambda p: p
    if nnx_model:
        notes += [f"the NNX module's {'.'.join(map(str, path)) or '(model)'} ({type(m).__name__}) computes in "
                  f"{jnp.dtype(m.dtype)} (its dtype attribute), not {dtype}: build it with dtype=jnp.{dtype}"
                  for path, m in nnx.iter_graph(model) if isinstance(m, nnx.Module)
                  and getattr(m, "dtype", None) is not None and jnp.dtype(m.dtype) != jnp.dtype(dtype)]
        graphdef, state, rest = nnx.split(model, nnx.Param, ...)
        model, extra, params = graphdef, (state, rest), nnx.to_pure_dict(state)

        def layout(p):
            s = jax.tree_util.tree_map(lambda v: v, state)
            nnx.replace_by_pure_dict(s, p)
            return nnx_params(nnx.merge(graphdef, s, rest, copy=True))
    frozen = tuple(sorted(flax_kwargs.items()))
    raw, jitted, update = _programs()
    try:
        hash((model, loss_fn, frozen))
        grad = lambda p, e, x, t: jitted(p, e, x, t, model, loss_fn, frozen)  # noqa: E731
    except TypeError:  # keywords that cannot be static: compiled afresh, closed over
        grad = jax.jit(lambda p, e, x, t: raw(p, e, x, t, model, loss_fn, frozen), compiler_options=COMPILER_OPTIONS)
    current = [jax.tree_util.tree_map(jnp.asarray, params)]
    current.append(tx.init(current[0]))

    def step(inputs, targets, i):
        try:
            value, grads = grad(current[0], extra, tuple(map(jnp.asarray, inputs)), jnp.asarray(targets))
        except Exception as err:
            raise _flax_error(err, i, inputs) from None
        current[:] = update(tx, grads, current[1], current[0])
        return float(value)

    return step, lambda: flax_to_torch(jax.tree_util.tree_map(np.asarray, layout(current[0])), rules)


def _flax_error(err: BaseException, i: int, inputs) -> ParityInputError:
    if "PRNG" in str(err) or "Rng" in type(err).__name__:
        return ParityInputError("compare_training: the Flax module asks for an rng (dropout in training mode): train "
                                "mode with dropout cannot be compared (the masks differ); pass flax_kwargs="
                                "{'deterministic': True} or build it without dropout")
    return ParityInputError(f"compare_training: step {i}: the Flax module cannot run the batch (inputs "
                            f"{', '.join(str(np.shape(a)) for a in inputs)}): {_one_line(err)}")

"""How `learngpt bench` runs each implementation: the device, one call (a forward pass, or one training step of
the trainers' own step functions, so that what is timed is what trains), the timing, the training loops."""
from __future__ import annotations

import os
import gc
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from learngpt import components
from learngpt_lab import stats
from learngpt.config import Config
from learngpt.errors import UserError
from learngpt_lab.bench.plan import HEADLINE, IMPLS, LOOPS, LoopMeasurement, Measurement, Plan, Size


@dataclass
class Device:
    """Where both frameworks run, and how to wait for them."""
    kind: str  # cpu | gpu
    torch_device: Any
    jax_device: Any

    def sync_torch(self) -> None:
        if self.kind == "gpu":
            import torch
            torch.cuda.synchronize()


def setup_device(kind: str) -> Device:
    """Select the device in both frameworks; on GPU turn TF32 off in both. Raises ValueError if absent."""
    if kind not in ("cpu", "gpu"):
        raise UserError(f"device must be cpu or gpu, got {kind!r}")
    import torch  # threads: learngpt_lab.threads.set_threads, which the command calls before JAX starts
    import jax
    jax.config.update("jax_enable_x64", False)
    if kind == "cpu":
        jdev = jax.devices("cpu")[0]
        tdev = torch.device("cpu")
    else:
        if not torch.cuda.is_available():
            raise UserError("--device gpu: torch sees no CUDA GPU (torch.cuda.is_available() is False); "
                             "install a CUDA build of torch on a machine with an NVIDIA GPU, or use --device cpu")
        try:
            jdev = jax.devices("gpu")[0]
        except RuntimeError as err:
            raise UserError("--device gpu: JAX sees no GPU; install it with pip install -U 'jax[cuda12]' "
                             f"(JAX said: {str(err).splitlines()[0]})") from None
        tdev = torch.device("cuda")
        # TF32 off in both frameworks: full float32 matmuls, so the comparison is like for like
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        jax.config.update("jax_default_matmul_precision", "highest")
    jax.config.update("jax_default_device", jdev)
    return Device(kind, tdev, jdev)


def describe_machine(device: Device) -> dict:
    """learngpt_lab.stats.machine(), with the threads and the devices of this run (a shared machine shows in the
    load average)."""
    import torch
    info = {**stats.machine(), "torch_threads": torch.get_num_threads(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "device": device.kind, "jax_device": str(device.jax_device), "jax_backend": device.jax_device.platform}
    if device.kind == "gpu":
        info |= {"gpu_name": torch.cuda.get_device_name(0), "jax_device_kind": device.jax_device.device_kind,
                 "tf32": False}
    return info


def _inputs(component: str, cfg: Config, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x, target): token ids and next ids for a language model; (B, T, C) floats and a regression target
    for a lone component."""
    rng = np.random.default_rng(seed)
    B, T, C = cfg.batch_size, cfg.block_size, cfg.embed_size
    if components.get(component).takes_tokens:
        return (rng.integers(0, cfg.vocab_size, (B, T)).astype(np.int64),
                rng.integers(0, cfg.vocab_size, (B, T)).astype(np.int64))
    return rng.standard_normal((B, T, C)).astype(np.float32), rng.standard_normal((B, T, C)).astype(np.float32)


def _torch_trainable(component: str, cfg: Config):
    """The component as the torch trainer's step takes it: model(x, y) -> (output, loss). A lone component
    gets a mean-squared-error loss against a fixed target."""
    import torch
    import learngpt_torch

    module = components.build(learngpt_torch, component, cfg)
    if components.get(component).takes_tokens:
        return module

    class Regression(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, targets=None):
            out = self.inner(x)  # (B, T, C)
            return out, None if targets is None else ((out - targets) ** 2).mean()
    return Regression(module)


def _flax_trainable(component: str, cfg: Config):
    """The Flax twin of _torch_trainable: model.apply(p, x, y, deterministic) -> (output, loss)."""
    import jax.numpy as jnp
    import learngpt_flax
    from flax import linen as nn

    module = components.build(learngpt_flax, component, cfg)
    if components.get(component).takes_tokens:
        return module

    class Regression(nn.Module):
        inner: nn.Module

        def __call__(self, x, targets=None, deterministic=True):
            out = self.inner(x, deterministic)  # (B, T, C)
            return out, None if targets is None else jnp.mean((out - targets) ** 2)
    return Regression(module)


def torch_runner(component: str, mode: str, cfg: Config, device: Device, compiled: bool) -> Callable[[], None]:
    """One call (forward, or one step of learngpt_torch.trainer.make_step) of the torch module; returns after
    the device is done. Token ids are checked once on the host, as the trainers check each batch
    (checks.check_host_ids), and every call runs inside checks.ids_checked: the timed call reads no id back."""
    import torch
    from learngpt import checks
    from learngpt_torch.optim import make_optimizer
    from learngpt_torch.trainer import make_step
    torch.manual_seed(0)
    model = _torch_trainable(component, cfg).to(device.torch_device)
    x_np, t_np = _inputs(component, cfg)
    if components.get(component).takes_tokens:
        checks.check_host_ids(cfg.vocab_size, x_np, t_np)
    x, t = (torch.as_tensor(a, device=device.torch_device) for a in (x_np, t_np))
    if compiled:
        torch._dynamo.reset()  # a fresh cache: honest compile time, no recompilation limit across sizes
    run = torch.compile(model) if compiled else model

    if mode == "forward":
        model.eval()

        def call() -> None:
            with torch.no_grad(), checks.ids_checked():
                run(x)
            device.sync_torch()
        return call

    model.train()  # dropout on, as in training
    step = make_step(run, make_optimizer(model, cfg))  # the trainer's own step; AdamW stays eager (foreach)

    def train_call() -> None:
        with checks.ids_checked():
            step(x, t)
        device.sync_torch()
    return train_call


def jax_runner(component: str, mode: str, cfg: Config, device: Device, jit: bool) -> Callable[[], None]:
    """One call of the Flax twin (forward, or one step of learngpt_flax.fast.make_step), jitted or op by op;
    returns after block_until_ready."""
    import jax
    from learngpt_flax.fast import make_step
    from learngpt_flax.optim import make_optimizer
    model = _flax_trainable(component, cfg)
    x_np, t_np = _inputs(component, cfg)
    x, t = jax.device_put(x_np, device.jax_device), jax.device_put(t_np, device.jax_device)
    params = _params(model, x, device)

    if mode == "forward":
        def forward(p, inp):
            return model.apply({"params": p}, inp)[0]  # (output, None)
        fn = jax.jit(forward) if jit else forward

        def call() -> None:
            jax.block_until_ready(fn(params, x))
        return call

    optimizer = make_optimizer(cfg)
    step = make_step(model, optimizer)  # fast.train's step: (params, opt_state, key), (x, y)
    fn = jax.jit(step) if jit else step
    box = [(params, optimizer.init(params), jax.random.key(0))]

    def train_call() -> None:
        box[0], loss = fn(box[0], (x, t))
        jax.block_until_ready((box[0], loss))
    return train_call


_PARAMS: dict = {}  # (module structure, input shape, device) -> params: Flax's init runs op by op, once each


def _params(model, x, device: Device):
    import jax
    key = (repr(model), x.shape, str(device.jax_device))
    if key not in _PARAMS:
        _PARAMS[key] = model.init(jax.random.key(0), x)["params"]
    return _PARAMS[key]


def _nnx_trainable(component: str, cfg: Config, device: Device):
    """The NNX twin of _torch_trainable, built by the NNX backend's adapter (learngpt_lab/backends) on the
    device: model(x, y) -> (output, loss), its parameters inside it."""
    from flax import nnx
    import jax.numpy as jnp
    from learngpt_lab import backends

    nnx_backend = backends.get("nnx")
    with nnx_backend.on(device.kind):
        module = nnx_backend.create(lambda lib: components.build(lib, component, cfg), seed=0).module
    if components.get(component).takes_tokens:
        return module

    class Regression(nnx.Module):
        def __init__(self, inner):
            self.inner = inner

        def __call__(self, x, targets=None):
            out = self.inner(x)  # (B, T, C)
            return out, None if targets is None else jnp.mean((out - targets) ** 2)
    return Regression(module)


def nnx_runner(component: str, mode: str, cfg: Config, device: Device, jit: bool) -> Callable[[], None]:
    """One call of the NNX twin in NNX's own idiom: the objects (module, nnx.Optimizer) passed to nnx.jit and
    changed in place, as the lesson's trainer (learngpt_nnx/trainer.py) passes them; forward, or one step of
    learngpt_nnx.trainer.step traced under learngpt_nnx.fast.fast_layers (the step learngpt_nnx.fast.make_step
    traces: the same maths as the linen arm's learngpt_flax.fast.make_step). jit=False: the same Python
    function op by op. Returns after block_until_ready."""
    import jax
    from flax import nnx
    from learngpt_nnx import fast, trainer
    from learngpt_nnx.optim import make_optimizer
    model = _nnx_trainable(component, cfg, device)
    x_np, t_np = _inputs(component, cfg)
    x, t = jax.device_put(x_np, device.jax_device), jax.device_put(t_np, device.jax_device)

    if mode == "forward":
        model.eval()  # dropout off

        def forward(m, inp):
            return m(inp)[0]  # (output, None)
        fn = nnx.jit(forward) if jit else forward

        def call() -> None:
            jax.block_until_ready(fn(model, x))
        return call

    model.train()  # dropout on, drawn from the model's own streams
    optimizer = make_optimizer(model, cfg)

    def step(m, opt, batch):
        with fast.fast_layers():  # active while the step is traced (each call, without jit)
            return trainer.step(m, opt, batch)
    fn = nnx.jit(step) if jit else step

    def train_call() -> None:
        jax.block_until_ready(fn(model, optimizer, (x, t)))
    return train_call


# impl -> how one call of it is built: (component, mode, cfg, device) -> call
RUNNERS: dict[str, Callable[..., Callable[[], None]]] = {
    "torch": lambda *a: torch_runner(*a, compiled=False),
    "torch.compile": lambda *a: torch_runner(*a, compiled=True),
    "jax.jit": lambda *a: jax_runner(*a, jit=True),
    "jax": lambda *a: jax_runner(*a, jit=False),
    "nnx.jit": lambda *a: nnx_runner(*a, jit=True),
    "nnx": lambda *a: nnx_runner(*a, jit=False),
}


def make_runner(impl: str, component: str, mode: str, cfg: Config, device: Device) -> Callable[[], None]:
    if impl not in RUNNERS:
        raise UserError(f"unknown implementation {impl!r}; expected one of {IMPLS}")
    return RUNNERS[impl](component, mode, cfg, device)


def _first_and_calls(call: Callable[[], None], warmup: int, min_repeat_seconds: float, max_calls: int
                     ) -> tuple[float, int]:
    """The first call alone (it compiles), then warm-up; returns its time and the calls per repeat (sized from
    the fastest warm-up call, so that one repeat lasts at least min_repeat_seconds: a call still warming up,
    slower than the rest, does not shrink every repeat to one call)."""
    t0 = time.perf_counter()
    call()
    first = one = time.perf_counter() - t0
    for i in range(warmup):
        t0 = time.perf_counter()
        call()
        one = time.perf_counter() - t0 if i == 0 else min(one, time.perf_counter() - t0)
    return first, int(max(1, min(max_calls, np.ceil(min_repeat_seconds / max(one, 1e-7)))))


def _repeat(call: Callable[[], None], calls: int) -> float:
    """Seconds per call over `calls` calls after one untimed call (the implementations take turns, and the first
    call after another implementation's pays for the switch), Python's garbage collector off while they run
    (as timeit does): the objects one implementation leaves behind are not collected inside another's timing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        call()
        t0 = time.perf_counter()
        for _ in range(calls):
            call()  # each call synchronises before it returns
        return (time.perf_counter() - t0) / calls
    finally:
        if enabled:
            gc.enable()


def measure_group(members: list[tuple[str, str]], component: str, mode: str, size: Size, base: Config,
                  device: Device, plan: Plan) -> list[Measurement]:
    """Every implementation of one (component, mode, size), measured together: built and compiled first, then
    rounds in a rotating order, each ratio from the same round as its torch-eager repeat; rounds are added while
    a ratio's 95 % interval is wide, within plan.max_rounds and plan.budget_seconds (stats.until_narrow), and a
    figure whose interval stays wide is flagged."""
    impls = [impl for impl, _ in members]  # (impl, axis): the table (components) or sweep axis it belongs to
    out = {impl: Measurement(component, mode, impl, asdict(size), axis) for impl, axis in members}
    live: dict[str, Callable[[], None]] = {}
    firsts: dict[str, float] = {}
    calls: dict[str, int] = {}
    for impl in impls:
        try:
            call = make_runner(impl, component, mode, size.config(base), device)
            firsts[impl], calls[impl] = _first_and_calls(call, plan.warmup, plan.min_repeat_seconds,
                                                         plan.max_calls)
            live[impl] = call
        except Exception as err:  # one failing implementation must not lose the whole run
            out[impl].error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    names = list(live)
    try:
        attempt, load, figures = stats.until_narrow(
            lambda r: {names[i]: _repeat(live[names[i]], calls[names[i]]) for i in stats.rotation(len(names), r)},
            "torch", plan.threads, tuple(n for n in names if n != "torch") or None, plan.limit, plan.repeats,
            plan.max_rounds, plan.budget_seconds)
    except Exception as err:  # a call failing after its first: the group's figures are lost, not the run
        for n in names:
            out[n].error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        return [out[i] for i in impls]
    for n, figure in figures.items():
        m, times = out[n], figure.times
        m.p25_s, m.median_s, m.p75_s = stats.quartiles(times)
        m.first_call_s, m.min_s, m.max_s, m.times_s = firsts[n], min(times), max(times), times
        m.repeats, m.calls_per_repeat = len(times), calls[n]
        m.judged(figure, load, attempt)
    return [out[i] for i in impls]


# loop -> (backend, the module of its lesson package whose train runs the loop, that train's keyword arguments)
LOOP_TRAINERS = {
    "torch loop": ("torch", "trainer", {}),
    "torch.compile loop": ("torch", "fast", {}),
    "flax per-step": ("flax", "fast", {"fused": False}),
    "flax scan": ("flax", "fast", {}),
    "flax lesson scan": ("flax", "trainer", {}),
    "nnx per-step": ("nnx", "fast", {"fused": False}),
    "nnx scan": ("nnx", "fast", {}),
    "nnx lesson scan": ("nnx", "trainer", {}),
}


def measure_loops(cfg: Config, corpus, steps: int, device: Device, loops: tuple[str, ...] = LOOPS,
                  rounds: int = 5, threads: int = 1, limit: float = stats.INTERVAL_LIMIT, max_rounds: int = 40,
                  budget_seconds: float = 120.0) -> list[LoopMeasurement]:
    """Steps/s of the trainers at cfg (LOOP_TRAINERS: torch eager; torch.compile, learngpt_torch.fast.train, its
    compile in the warm-up; for linen and NNX each, one jitted step per call and fused with lax.scan, both
    through the package's fast.train, and the lesson's trainer.train: linen's fused under plain jax.jit, NNX's
    under nnx.jit), each model built by its backend's adapter (learngpt_lab/backends), paired:
    each loop trains in segments of steps // rounds steps, the loops take turns segment by segment (rotating
    order), and each ratio to the torch loop comes from the same round. One warm-up segment each first
    (Flax compiles there); compile and evaluation are excluded, as in the trainers' own steps/s. At least
    `rounds` rounds, more while a ratio's 95 % interval is wide (stats.until_narrow), within max_rounds and
    budget_seconds."""
    import torch
    from learngpt.components import NANOGPT
    from learngpt.data import BatchSampler
    from learngpt.training import eval_data
    from learngpt_lab import backends

    if not loops or loops[0] != "torch loop":
        raise UserError(f"the loops measured must start with the torch loop (the ratios' base), got {loops}")
    for loop in loops:
        if loop not in LOOPS:
            raise UserError(f"unknown loop {loop!r}; expected one of {LOOPS}")
    rounds = max(1, rounds)
    segment = max(1, steps // rounds)
    size = {"batch": cfg.batch_size, "block_size": cfg.block_size, "embed_size": cfg.embed_size,
            "n_layers": cfg.n_layers, "n_heads": cfg.n_heads}

    def make(loop: str) -> Callable[[], Any]:
        """One segment of this loop's trainer per call; returns its History. Every loop draws the same
        batch stream (its own sampler, same seed) and starts from its backend's initialisation at cfg.seed."""
        sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
        evals = eval_data(sampler, cfg, 1)
        name, module, kwargs = LOOP_TRAINERS[loop]
        backend = backends.get(name)
        if loop == "torch.compile loop":
            torch._dynamo.reset()  # a fresh cache: its compile time whole in the warm-up segment
        with backend.on(device.kind):
            model = backend.create(NANOGPT.recipe(cfg), example=np.zeros((1, cfg.block_size), np.int32),
                                   seed=cfg.seed)
        train = backend.module(module).train

        def one_segment():
            with backend.on(device.kind):
                if model.params is None:  # torch and NNX: the parameters live in the module, trained in place
                    return train(model.module, cfg, sampler, evals, max_iters=segment, eval_interval=segment,
                                 **kwargs)
                model.params, history = train(model.module, model.params, cfg, sampler, evals, max_iters=segment,
                                              eval_interval=segment, **kwargs)  # linen: new params returned
                return history
        return one_segment

    out = {loop: LoopMeasurement(loop, size, 0, float("nan"), float("nan"), float("nan")) for loop in loops}
    live: dict[str, Callable[[], Any]] = {}
    for loop in loops:
        try:
            live[loop] = make(loop)
            out[loop].compile_seconds = live[loop]().compile_seconds  # the warm-up segment
        except Exception as err:
            out[loop].error = f"{type(err).__name__}: {err}"
            live.pop(loop, None)
    names = list(live)

    def one_round(r: int) -> dict[str, float]:
        """Seconds per step of each loop in round r, one segment each, the loops taking turns."""
        return {names[i]: (lambda h: h.train_seconds / h.steps)(live[names[i]]()) for i in stats.rotation(len(names), r)}
    try:
        attempts, load, figures = stats.until_narrow(one_round, "torch loop", threads, HEADLINE, limit, rounds,
                                                     max_rounds, budget_seconds)
    except Exception as err:  # a loop failing mid-way: keep what the others measured
        for n in names:
            out[n].error = out[n].error or f"{type(err).__name__}: {err}"
        return [out[n] for n in loops]
    for n, figure in figures.items():
        m = out[n]
        m.steps, m.train_seconds = segment * len(figure.times), segment * sum(figure.times)
        m.rates = [1.0 / v for v in figure.times]
        m.steps_per_second = float(np.median(m.rates))
        m.segment_steps, m.rounds = segment, len(figure.times)
        m.judged(figure, load, attempts)
    for a, b in [h for h in HEADLINE if isinstance(h, tuple) and set(h) <= set(figures)]:
        out[a].versus[b] = stats.paired_figure(figures[a].times, figures[b].times, limit)
    return [out[n] for n in loops]

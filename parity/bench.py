"""What jit buys, measured side by side: torch eager, torch.compile, jax.jit and JAX without jit.

Every measurement times one call (a forward pass, or a whole training step: forward, backward, AdamW)
of one component at one size, in one of four implementations:

    torch          eager PyTorch, the reference
    torch.compile  the same module through torch.compile (inductor); AdamW stays eager (foreach)
    jax.jit        the Flax twin, the whole call (step: grad + optax AdamW) compiled by XLA
    jax            the same Python function without jit: every primitive dispatched on its own

The first call is timed apart (it compiles); then `warmup` calls; then `repeats` timed repeats of
`calls` calls each, the device synchronised at the end of each (torch.cuda.synchronize,
jax.block_until_ready), so that asynchronous dispatch is never mistaken for speed. We report the
median time per call over the repeats, its quartiles and extremes, and the speed-up against torch
eager measured in the same run (torch eager time / this time: above 1 is faster).

The training loop itself is measured through the trainers: the torch loop, the Flax loop with one
jitted step per Python call, and the Flax loop fused with lax.scan (steps/s, compile apart).
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from learngpt.config import Config

SCHEMA = "learngpt-bench/1"
IMPLS = ("torch", "torch.compile", "jax.jit", "jax")
COMPONENTS = ("HeadVer4", "MultiHeadVer1", "MultiHeadVer2", "FeedForward", "BlockVer4", "NanoGPT")
MODES = ("forward", "train")
LOOPS = ("torch loop", "flax per-step", "flax scan")
AXES = ("batch", "block_size", "embed_size", "n_layers")


@dataclass(frozen=True)
class Size:
    """One point of the sweep: the four axes (n_heads stays the curriculum's 8)."""
    batch: int
    block_size: int
    embed_size: int
    n_layers: int
    n_heads: int = 8

    @property
    def label(self) -> str:
        return f"B{self.batch} T{self.block_size} C{self.embed_size} L{self.n_layers}"

    def config(self, base: Config) -> Config:
        return base.replace(batch_size=self.batch, block_size=self.block_size, embed_size=self.embed_size,
                            n_layers=self.n_layers, n_heads=self.n_heads)

    def train_gflops(self, vocab_size: int = 65) -> float:
        """Rough floating-point work of one NanoGPT training step (3 x forward), in GFLOP."""
        B, T, C, L = self.batch, self.block_size, self.embed_size, self.n_layers
        per_layer = 2 * B * T * 12 * C * C + 2 * 2 * B * T * T * C  # q,k,v,proj + 4C MLP; scores + weighted sum
        return 3 * (L * per_layer + 2 * B * T * C * vocab_size) / 1e9


TINY = Size(32, 8, 16, 5)  # the curriculum's (the seed's) config


@dataclass(frozen=True)
class Plan:
    """What one run measures."""
    components: tuple[str, ...] = COMPONENTS
    modes: tuple[str, ...] = MODES
    impls: tuple[str, ...] = IMPLS
    compile_components: tuple[str, ...] = COMPONENTS  # torch.compile costs tens of seconds per graph on CPU
    compile_modes: tuple[str, ...] = MODES
    nojit_train_components: tuple[str, ...] = COMPONENTS  # JAX op by op: every primitive compiled once, slow
    nojit_forward_components: tuple[str, ...] = COMPONENTS
    sweep: tuple[tuple[str, Size], ...] = ()  # (axis, size) for NanoGPT; axis "scale" grows all four together
    sweep_compile_axes: tuple[str, ...] = ("scale",)  # sweep points that also run torch.compile (train mode)
    sweep_modes: tuple[str, ...] = MODES
    sweep_impls: tuple[str, ...] | None = None  # None: the same as impls
    loop_steps: int = 1000
    repeats: int = 7
    warmup: int = 2
    min_repeat_seconds: float = 0.1  # calls per repeat grow until one repeat lasts this long
    max_calls: int = 200
    component_size: Size = TINY  # where the per-component table is measured
    loop_size: Size = TINY  # where the training loops are measured
    loops: tuple[str, ...] = LOOPS  # which of them


def sweep_points(axis_values: dict[str, tuple[int, ...]], scale: tuple[Size, ...]) -> tuple[tuple[str, Size], ...]:
    points = []
    for axis, values in axis_values.items():
        field_name = "batch" if axis == "batch" else axis
        for v in values:
            points.append((axis, Size(**{**asdict(TINY), field_name: v})))
    points += [("scale", s) for s in scale]
    return tuple(points)


FULL = Plan(
    sweep=sweep_points({"batch": (32, 128, 512), "block_size": (8, 32, 128), "embed_size": (16, 64, 256),
                        "n_layers": (1, 5, 20)},
                       (TINY, Size(32, 32, 64, 5), Size(64, 64, 128, 5))),
    compile_modes=("train",), loop_steps=2000)
QUICK = Plan(  # under 2 minutes on 2 cores from a cold start, inductor's C++ compilation included
    # torch.compile on NanoGPT's forward only: its training step costs ~40-70 s of inductor compilation on a cold
    # cache (the forward ~25 s); JAX without jit and the per-step Flax loop: on NanoGPT's forward / not at all
    compile_components=("NanoGPT",), compile_modes=("forward",), nojit_train_components=(),
    nojit_forward_components=("NanoGPT",), loops=("torch loop", "flax scan"),
    # the sweep on the forward pass: a NanoGPT training step costs ~9 s of XLA compilation per size
    sweep=sweep_points({}, (TINY, Size(32, 32, 64, 5))),
    sweep_compile_axes=(),
    sweep_modes=("forward",), sweep_impls=("torch", "jax.jit"),  # JAX without jit: in the component table
    loop_steps=200, repeats=5, warmup=1, min_repeat_seconds=0.03, max_calls=50)
TINY_PLAN = Plan(  # for the schema test: every kind of record, as little work as possible
    components=("MultiHeadVer2",), impls=("torch", "jax.jit", "jax"), compile_components=(), nojit_train_components=(),
    sweep=sweep_points({}, (Size(2, 4, 8, 1, 2),)), sweep_compile_axes=(), sweep_modes=("train",),
    sweep_impls=("torch", "jax.jit"),  # JAX op by op compiles every primitive once: the component covers it
    loop_steps=4, repeats=2, warmup=1, min_repeat_seconds=0.0, max_calls=1,
    component_size=Size(2, 4, 8, 1, 2), loop_size=Size(2, 4, 8, 1, 2))


@dataclass
class Measurement:
    """One implementation of one call of one component at one size."""
    component: str
    mode: str  # forward | train
    impl: str
    size: dict
    axis: str  # "components" for the per-component table, else the sweep axis
    first_call_s: float = float("nan")  # the first call alone: compilation included
    median_s: float = float("nan")  # per call, over the repeats
    p25_s: float = float("nan")
    p75_s: float = float("nan")
    min_s: float = float("nan")
    max_s: float = float("nan")
    repeats: int = 0
    calls_per_repeat: int = 0
    times_s: list = field(default_factory=list)  # per call, one per repeat
    speedup_vs_torch: float = float("nan")  # torch eager median / this median, same run
    error: str | None = None


@dataclass
class LoopMeasurement:
    """Steps/s of a whole training loop (one of LOOPS), through the trainers."""
    loop: str
    size: dict
    steps: int
    steps_per_second: float
    train_seconds: float
    compile_seconds: float
    speedup_vs_torch: float = float("nan")
    error: str | None = None


# ----------------------------------------------------------------------------------------------- devices

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
        raise ValueError(f"device must be cpu or gpu, got {kind!r}")
    import torch  # threads: learngpt.threads.limit_threads, which the command calls before JAX starts
    import jax
    jax.config.update("jax_enable_x64", False)
    if kind == "cpu":
        jdev = jax.devices("cpu")[0]
        tdev = torch.device("cpu")
    else:
        if not torch.cuda.is_available():
            raise ValueError("--device gpu: torch sees no CUDA GPU (torch.cuda.is_available() is False); "
                             "install a CUDA build of torch on a machine with an NVIDIA GPU, or use --device cpu")
        try:
            jdev = jax.devices("gpu")[0]
        except RuntimeError as err:
            raise ValueError("--device gpu: JAX sees no GPU; install it with pip install -U 'jax[cuda12]' "
                             f"(JAX said: {str(err).splitlines()[0]})") from None
        tdev = torch.device("cuda")
        # TF32 off in both frameworks: full float32 matmuls, so the comparison is like for like
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        jax.config.update("jax_default_matmul_precision", "highest")
    jax.config.update("jax_default_device", jdev)
    return Device(kind, tdev, jdev)


def describe_machine(device: Device) -> dict:
    """CPU model, cores, versions, devices, and the load average (a shared machine shows here)."""
    import flax
    import jax
    import jaxlib
    import optax
    import torch
    cpu_model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu_model": cpu_model or "unknown",
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {"torch": torch.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                     "flax": flax.__version__, "optax": optax.__version__, "numpy": np.__version__},
        "torch_threads": torch.get_num_threads(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "device": device.kind,
        "jax_device": str(device.jax_device),
        "jax_backend": device.jax_device.platform,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if device.kind == "gpu":
        info["gpu_name"] = torch.cuda.get_device_name(0)
        info["jax_device_kind"] = device.jax_device.device_kind
        info["tf32"] = False
    return info


# ----------------------------------------------------------------------------------------------- runners

def _recipe(component: str, cfg: Config) -> Callable[[Any], Any]:
    from learngpt import components as recipes
    if component == "NanoGPT":
        return lambda lib: recipes.nanogpt(lib, cfg)
    if component in recipes.HEADS:
        return lambda lib: recipes.head(lib, component, cfg)  # a single HeadVer4 has head_size = embed_size
    if component == "FeedForward":
        return lambda lib: lib.FeedForward(cfg.embed_size)
    if component == "BlockVer4":
        return lambda lib: recipes.block(lib, "BlockVer4", cfg, "MultiHeadVer2")
    raise ValueError(f"unknown component {component!r}; expected one of {COMPONENTS}")


def _inputs(component: str, cfg: Config, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x, target): token ids and next ids for NanoGPT; (B, T, C) floats and a regression target otherwise."""
    rng = np.random.default_rng(seed)
    B, T, C = cfg.batch_size, cfg.block_size, cfg.embed_size
    if component == "NanoGPT":
        return (rng.integers(0, cfg.vocab_size, (B, T)).astype(np.int64),
                rng.integers(0, cfg.vocab_size, (B, T)).astype(np.int64))
    return rng.standard_normal((B, T, C)).astype(np.float32), rng.standard_normal((B, T, C)).astype(np.float32)


def torch_runner(component: str, mode: str, cfg: Config, device: Device, compiled: bool) -> Callable[[], None]:
    """One call (forward or training step) of the torch module; returns after the device is done."""
    import torch
    import learngpt_torch
    from learngpt_torch.trainer import make_optimizer
    torch.manual_seed(0)
    module = _recipe(component, cfg)(learngpt_torch).to(device.torch_device)
    x, t = (torch.as_tensor(a, device=device.torch_device) for a in _inputs(component, cfg))
    gpt = component == "NanoGPT"

    def loss_of(inp, target):
        if gpt:
            return module(inp, target)[1]  # cross-entropy of the next-token logits
        return ((module(inp) - target) ** 2).mean()  # (B, T, C): a regression loss for a lone component

    if compiled:
        torch._dynamo.reset()  # a fresh cache: honest compile time, no recompilation limit across sizes
        forward_fn = torch.compile(lambda inp: module(inp))
        loss_fn = torch.compile(loss_of)
    else:
        forward_fn, loss_fn = (lambda inp: module(inp)), loss_of

    if mode == "forward":
        module.eval()

        def call() -> None:
            with torch.no_grad():
                forward_fn(x)
            device.sync_torch()
        return call

    module.train()  # dropout on, as in training
    optimizer = make_optimizer(module, cfg)

    def step() -> None:
        loss = loss_fn(x, t)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        device.sync_torch()
    return step


_PARAMS: dict = {}  # (component, config, device) -> freshly initialised Flax params, shared by its runners


def jax_runner(component: str, mode: str, cfg: Config, device: Device, jit: bool) -> Callable[[], None]:
    """One call of the Flax twin, jitted or op by op; returns after block_until_ready."""
    import jax
    import jax.numpy as jnp
    import optax
    import learngpt_flax
    from learngpt_flax.trainer import make_optimizer
    module = _recipe(component, cfg)(learngpt_flax)
    x_np, t_np = _inputs(component, cfg)
    x, t = jax.device_put(x_np, device.jax_device), jax.device_put(t_np, device.jax_device)
    key = (component, cfg, str(device.jax_device))
    if key not in _PARAMS:  # Flax's init runs the model op by op: once per component and size, not per runner
        _PARAMS[key] = module.init({"params": jax.random.key(0)}, x)["params"]
    params = _PARAMS[key]
    gpt = component == "NanoGPT"

    if mode == "forward":
        def forward(p, inp):
            out = module.apply({"params": p}, inp)
            return out[0] if gpt else out  # GPTs return (logits, loss)
        fn = jax.jit(forward) if jit else forward

        def call() -> None:
            jax.block_until_ready(fn(params, x))
        return call

    optimizer = make_optimizer(cfg)

    def step(state, inp, target):
        p, opt_state, key = state
        key, dropout_key = jax.random.split(key)

        def loss_fn(q):
            rngs = {"dropout": dropout_key}
            if gpt:
                return module.apply({"params": q}, inp, target, deterministic=False, rngs=rngs)[1]
            out = module.apply({"params": q}, inp, deterministic=False, rngs=rngs)  # (B, T, C)
            return jnp.mean((out - target) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state, key), loss

    fn = jax.jit(step) if jit else step
    box = [(params, optimizer.init(params), jax.random.key(0))]

    def call() -> None:
        box[0], loss = fn(box[0], x, t)
        jax.block_until_ready((box[0], loss))
    return call


def make_runner(impl: str, component: str, mode: str, cfg: Config, device: Device) -> Callable[[], None]:
    if impl == "torch":
        return torch_runner(component, mode, cfg, device, compiled=False)
    if impl == "torch.compile":
        return torch_runner(component, mode, cfg, device, compiled=True)
    if impl == "jax.jit":
        return jax_runner(component, mode, cfg, device, jit=True)
    if impl == "jax":
        return jax_runner(component, mode, cfg, device, jit=False)
    raise ValueError(f"unknown implementation {impl!r}; expected one of {IMPLS}")


def time_calls(call: Callable[[], None], repeats: int, warmup: int, min_repeat_seconds: float,
               max_calls: int) -> dict:
    """First call apart, then warm-up, then repeats of n calls (n sized from the warm-up); seconds per call."""
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    one = first
    for _ in range(warmup):
        t0 = time.perf_counter()
        call()
        one = time.perf_counter() - t0
    calls = int(max(1, min(max_calls, np.ceil(min_repeat_seconds / max(one, 1e-7)))))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            call()  # each call synchronises before it returns
        times.append((time.perf_counter() - t0) / calls)
    q = np.percentile(times, [25, 50, 75])
    return {"first_call_s": first, "median_s": float(statistics.median(times)), "p25_s": float(q[0]),
            "p75_s": float(q[2]), "min_s": float(min(times)), "max_s": float(max(times)), "repeats": repeats,
            "calls_per_repeat": calls, "times_s": [float(v) for v in times]}


def measure(impl: str, component: str, mode: str, size: Size, axis: str, base: Config, device: Device,
            plan: Plan) -> Measurement:
    m = Measurement(component, mode, impl, asdict(size), axis)
    try:
        call = make_runner(impl, component, mode, size.config(base), device)
        for k, v in time_calls(call, plan.repeats, plan.warmup, plan.min_repeat_seconds, plan.max_calls).items():
            setattr(m, k, v)
    except Exception as err:  # one failing implementation must not lose the whole run
        m.error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return m


# ----------------------------------------------------------------------------------------------- loops

def measure_loops(cfg: Config, corpus, steps: int, device: Device, loops: tuple[str, ...] = LOOPS
                  ) -> list[LoopMeasurement]:
    """Steps/s of the trainers at cfg: torch, Flax one jitted step per call, Flax fused with lax.scan."""
    import jax
    import torch
    import learngpt_flax
    import learngpt_torch
    from learngpt import components as recipes
    from learngpt.data import BatchSampler
    from learngpt.training import eval_data
    from learngpt_flax import trainer as flax_trainer
    from learngpt_torch import trainer as torch_trainer

    out = []
    size = {"batch": cfg.batch_size, "block_size": cfg.block_size, "embed_size": cfg.embed_size,
            "n_layers": cfg.n_layers, "n_heads": cfg.n_heads}
    if not loops or loops[0] != "torch loop":
        raise ValueError(f"the loops measured must start with the torch loop (the ratios' base), got {loops}")
    for loop in loops:
        if loop not in LOOPS:
            raise ValueError(f"unknown loop {loop!r}; expected one of {LOOPS}")
        sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
        evals = eval_data(sampler, cfg, 1)
        try:
            if loop == "torch loop":
                torch.manual_seed(cfg.seed)
                model = recipes.nanogpt(learngpt_torch, cfg).to(device.torch_device)
                h = torch_trainer.train(model, cfg, sampler, evals, max_iters=steps, eval_interval=steps)
            else:
                model = recipes.nanogpt(learngpt_flax, cfg)
                params = jax.device_put(flax_trainer.init_params(model, cfg), device.jax_device)
                _, h = flax_trainer.train(model, params, cfg, sampler, evals, max_iters=steps, eval_interval=steps,
                                          fused=(loop == "flax scan"))
            out.append(LoopMeasurement(loop, size, h.steps, h.steps_per_second, h.train_seconds, h.compile_seconds))
        except Exception as err:
            out.append(LoopMeasurement(loop, size, steps, float("nan"), float("nan"), float("nan"),
                                       error=f"{type(err).__name__}: {err}"))
    torch_rate = out[0].steps_per_second
    for m in out:
        m.speedup_vs_torch = m.steps_per_second / torch_rate if torch_rate > 0 else float("nan")
    return out


# ----------------------------------------------------------------------------------------------- the run

def planned(plan: Plan) -> list[tuple[str, str, str, Size, str]]:
    """Every (impl, component, mode, size, axis) the plan measures, torch eager first in each group."""
    todo, seen = [], set()

    def add(impl, comp, mode, size, axis):
        key = (impl, comp, mode, size)
        if key not in seen:
            seen.add(key)
            todo.append((impl, comp, mode, size, axis))

    for comp in plan.components:
        for mode in plan.modes:
            for impl in plan.impls:
                if impl == "torch.compile" and (comp not in plan.compile_components or mode not in plan.compile_modes):
                    continue
                if impl == "jax" and mode == "train" and comp not in plan.nojit_train_components:
                    continue
                if impl == "jax" and mode == "forward" and comp not in plan.nojit_forward_components:
                    continue
                add(impl, comp, mode, plan.component_size, "components")
    for axis, size in plan.sweep:
        for mode in plan.sweep_modes:
            for impl in plan.impls if plan.sweep_impls is None else plan.sweep_impls:
                if impl == "torch.compile" and not (mode == "train" and axis in plan.sweep_compile_axes):
                    continue
                add(impl, "NanoGPT", mode, size, axis)
    return todo


def fill_speedups(measurements: list[Measurement]) -> None:
    eager = {(m.component, m.mode, tuple(m.size.values())): m.median_s for m in measurements
             if m.impl == "torch" and m.error is None}
    for m in measurements:
        ref = eager.get((m.component, m.mode, tuple(m.size.values())))
        if ref is not None and m.error is None and m.median_s > 0:
            m.speedup_vs_torch = ref / m.median_s


def run_bench(plan: Plan, device: Device, base: Config | None = None, corpus=None, progress: bool = True,
              log: Callable[[str], None] | None = None) -> dict:
    """Measure everything in plan; returns the JSON-ready result (machine, settings, measurements, loops)."""
    from tqdm.auto import tqdm
    base = Config() if base is None else base
    machine = describe_machine(device)
    todo = planned(plan)
    measurements: list[Measurement] = []
    started = time.perf_counter()
    bar = tqdm(todo, desc="bench", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    for impl, comp, mode, size, axis in bar:
        bar.set_postfix_str(f"{comp} {mode} {impl} {size.label}")
        found = next((m for m in measurements if (m.impl, m.component, m.mode) == (impl, comp, mode)
                      and m.size == asdict(size)), None)
        measurements.append(found if found else measure(impl, comp, mode, size, axis, base, device, plan))
    bar.close()
    fill_speedups(measurements)
    loops = []
    if corpus is not None and plan.loop_steps > 0:
        if log:
            log(f"training loops: {plan.loop_steps} steps each at {plan.loop_size.label} ({', '.join(plan.loops)})")
        loops = measure_loops(plan.loop_size.config(base), corpus, plan.loop_steps, device, plan.loops)
    machine["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine,
        "settings": {"device": device.kind, "tf32": False if device.kind == "gpu" else None,
                     "repeats": plan.repeats, "warmup": plan.warmup, "min_repeat_seconds": plan.min_repeat_seconds,
                     "loop_steps": plan.loop_steps, "impls": list(plan.impls), "components": list(plan.components),
                     "base_config": base.to_dict(), "torch_compile_optimizer": "eager (foreach)",
                     "wall_seconds": None},
        "measurements": [asdict(m) for m in measurements],
        "loops": [asdict(m) for m in loops],
        "summary": summary(measurements, loops),
        "_elapsed": time.perf_counter() - started,
    }


def summary(measurements: list[Measurement], loops: list[LoopMeasurement]) -> dict:
    """The headline ratios: NanoGPT training step at the curriculum's size and at the largest size."""
    train = [m for m in measurements if m.component == "NanoGPT" and m.mode == "train" and m.error is None]
    out: dict = {}
    if train:
        largest = max((Size(**m.size) for m in train), key=lambda s: s.train_gflops())
        for name, size in (("curriculum", TINY), ("largest", largest)):
            at = {m.impl: m for m in train if m.size == asdict(size)}
            out[f"nanogpt_train_{name}"] = {"size": asdict(size), **{
                impl: {"median_ms": at[impl].median_s * 1e3, "speedup_vs_torch": at[impl].speedup_vs_torch}
                for impl in IMPLS if impl in at}}
    if loops:
        out["loops_steps_per_second"] = {m.loop: m.steps_per_second for m in loops}
        out["loops_speedup_vs_torch"] = {m.loop: m.speedup_vs_torch for m in loops}
    return out


# ----------------------------------------------------------------------------------------------- output

def _fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _cell(m: dict | None, show_speedup: bool = True) -> str:
    if m is None:
        return "-"
    if m["error"]:
        return "error"
    spread = (m["p75_s"] - m["p25_s"]) / 2 / m["median_s"] * 100 if m["median_s"] > 0 else float("nan")
    cell = f"{_fmt_ms(m['median_s'])} ±{spread:.0f}%"
    if show_speedup and m["impl"] != "torch":
        cell += f" ({m['speedup_vs_torch']:.2g}x)"
    return cell


def format_table(result: dict) -> str:
    """The terminal table: ms per call (median, ± half the interquartile range), speed-up vs torch eager."""
    ms = result["measurements"]
    impls = [i for i in IMPLS if any(m["impl"] == i for m in ms)]
    machine = result["machine"]
    load = machine.get("load_average_at_start")
    lines = [f"learngpt bench on {machine['device']}: {machine['cpu_model']}, {machine['cpus_usable']} cores"
             + (f", GPU {machine.get('gpu_name')}, TF32 off in both" if machine["device"] == "gpu" else "")
             + f"; torch {machine['versions']['torch']} ({machine['torch_threads']} threads), "
             + f"jax {machine['versions']['jax']}" + (f"; load average at start {load[0]:.1f}" if load else ""),
             "ms per call: median ±half the interquartile range over repeats after warm-up; "
             "(Nx) = speed-up against torch eager in this run, above 1 is faster; first = first call (compiles)"]

    def table(rows: list[tuple[str, str, list]], title: str) -> None:
        header = [title, "mode"] + impls + ["first jit", "first compile"]
        body = []
        for label, mode, group in rows:
            by = {m["impl"]: m for m in group}
            firsts = [f"{by[i]['first_call_s']:.2f}s" if i in by and not by[i]["error"] else "-"
                      for i in ("jax.jit", "torch.compile")]
            body.append([label, mode] + [_cell(by.get(i)) for i in impls] + firsts)
        widths = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]
        lines.append("")
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines.append("  ".join("-" * w for w in widths))
        for r in body:
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))

    comp_rows = []
    for comp in COMPONENTS:
        for mode in MODES:
            group = [m for m in ms if m["component"] == comp and m["mode"] == mode and m["axis"] == "components"]
            if group:
                comp_rows.append((comp, mode, group))
    if comp_rows:
        table(comp_rows, f"component at {Size(**comp_rows[0][2][0]['size']).label}")
    sweep_rows = []
    seen = set()
    swept = [m for m in ms if m["axis"] != "components"]
    # the curriculum's size is measured once (in the component table) but starts every sweep axis
    base = [m for m in ms if m["component"] == "NanoGPT" and m["size"] == asdict(TINY)] if swept else []
    for m in base + swept:
        if m["size"] == asdict(TINY):
            m = {**m, "axis": "curriculum"}
        key = (m["axis"], tuple(m["size"].values()), m["mode"])
        if key in seen:
            continue
        seen.add(key)
        group = [g for g in ms if g["component"] == "NanoGPT" and g["mode"] == m["mode"] and g["size"] == m["size"]]
        size = Size(**m["size"])
        sweep_rows.append((f"{m['axis']}: {size.label} ({size.train_gflops():.2g} GF)", m["mode"], group))
    if sweep_rows:
        table(sweep_rows, "NanoGPT sweep")
    if result["loops"]:
        lines.append("")
        lines.append(f"training loop at {Size(**result['loops'][0]['size']).label} (NanoGPT, AdamW, dropout on), steps/s; "
                     "compile and evaluation excluded:")
        for lp in result["loops"]:
            if lp["error"]:
                lines.append(f"  {lp['loop']:<14} error: {lp['error']}")
            else:
                lines.append(f"  {lp['loop']:<14} {lp['steps_per_second']:8.1f} steps/s  "
                             f"({lp['speedup_vs_torch']:.2f}x torch loop; {lp['steps']} steps, "
                             f"compile {lp['compile_seconds']:.1f}s)")
    errors = [m for m in ms if m["error"]]
    for m in errors:
        lines.append(f"error: {m['component']} {m['mode']} {m['impl']} {Size(**m['size']).label}: {m['error']}")
    return "\n".join(lines)


def _on_axis(m: dict, axis: str) -> bool:
    """Whether measurement m lies on a sweep axis: the curriculum's size starts every axis."""
    if m["axis"] == axis or m["size"] == asdict(TINY):
        return True
    if axis == "scale" or m["axis"] == "components":
        return False
    return all(v == asdict(TINY)[k] for k, v in m["size"].items() if k != axis)


def plot(result: dict, path: str) -> None:
    """Time per NanoGPT training step against each sweep axis, one line per implementation, log-log."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ms = [m for m in result["measurements"] if m["component"] == "NanoGPT" and not m["error"]]
    modes = [md for md in MODES if any(m["mode"] == md and m["axis"] != "components" for m in ms)]
    axes_present = [a for a in AXES + ("scale",) if any(m["axis"] == a for m in ms)]
    if not axes_present or not modes:
        axes_present, modes = ["scale"], ["train"]
    fig, grid = plt.subplots(len(modes), len(axes_present), figsize=(4 * len(axes_present), 3.6 * len(modes)),
                             squeeze=False)
    styles = {"torch": ("C0", "o"), "torch.compile": ("C1", "s"), "jax.jit": ("C2", "^"), "jax": ("C3", "v")}
    for r, mode in enumerate(modes):
        for c, axis in enumerate(axes_present):
            ax = grid[r][c]
            sizes = [Size(**m["size"]) for m in ms if m["mode"] == mode and _on_axis(m, axis)]
            sizes = sorted(set(sizes), key=lambda s: s.train_gflops())
            for impl in IMPLS:
                pts = []
                for s in sizes:
                    hit = next((m for m in ms if m["impl"] == impl and m["mode"] == mode and m["size"] == asdict(s)),
                               None)
                    if hit:
                        x = s.train_gflops() if axis == "scale" else getattr(s, axis)
                        pts.append((x, hit["median_s"] * 1e3, hit["p25_s"] * 1e3, hit["p75_s"] * 1e3))
                if pts:
                    xs, ys, lo, hi = zip(*pts)
                    color, marker = styles[impl]
                    ax.errorbar(xs, ys, yerr=[np.subtract(ys, lo), np.subtract(hi, ys)], color=color, marker=marker,
                                label=impl, capsize=2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("GFLOP per train step (all axes grow)" if axis == "scale" else axis)
            ax.set_ylabel(f"ms per {'training step' if mode == 'train' else 'forward'}")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"NanoGPT {mode}: {axis}", fontsize=10)
    handles = {}
    for ax in grid.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    grid[0][0].legend([handles[k] for k in IMPLS if k in handles], [k for k in IMPLS if k in handles], fontsize=8)
    machine = result["machine"]
    fig.suptitle(f"learngpt bench, {machine['device']}: {machine.get('gpu_name') or machine['cpu_model']}, "
                 f"{machine['cpus_usable']} cores (others from {TINY.label})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_json(result: dict, path: str) -> None:
    def clean(v):  # NaN is not JSON: write null
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    with open(path, "w") as f:
        json.dump(clean(result), f, indent=1)
        f.write("\n")

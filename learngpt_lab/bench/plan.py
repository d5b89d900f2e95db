"""What `learngpt bench` measures: the implementations, components, sizes, the sweep and the records.

See learngpt_lab/bench/__init__.py for what each implementation is and how a call is timed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from learngpt_lab import stats
from learngpt.config import Config

SCHEMA = "learngpt-bench/2"  # 2: paired ratios, spreads, flags and reasons
IMPLS = ("torch", "torch.compile", "jax.jit", "jax", "nnx.jit", "nnx")
NOJIT = ("jax", "nnx")  # the implementations without jit: every primitive dispatched on its own, compiled once
# registry names (learngpt/components.py): HeadVer4 is one head as wide as the model
COMPONENTS = ("HeadVer4", "MultiHeadVer1", "MultiHeadVer2", "FeedForward", "BlockVer4", "NanoGPT")
MODES = ("forward", "train")
LOOPS = ("torch loop", "torch.compile loop", "flax per-step", "flax scan", "flax lesson scan", "nnx per-step",
         "nnx scan", "nnx lesson scan")
# the loops' ratios the rounds are added for: a name, its ratio to the torch loop; a pair (a, b), b's time over a's
HEADLINE = ("flax scan", "nnx scan", ("flax scan", "torch.compile loop"), ("nnx scan", "flax scan"))
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


CURRICULUM = Size(32, 8, 16, 5)  # the curriculum's (the seed's) sizes


@dataclass(frozen=True)
class Plan:
    """What one run measures."""
    components: tuple[str, ...] = COMPONENTS
    modes: tuple[str, ...] = MODES
    impls: tuple[str, ...] = IMPLS
    compile_components: tuple[str, ...] = COMPONENTS  # torch.compile costs tens of seconds per graph on CPU
    compile_modes: tuple[str, ...] = MODES
    nojit_train_components: tuple[str, ...] = COMPONENTS  # NOJIT (JAX, NNX op by op): every primitive compiled once
    nojit_forward_components: tuple[str, ...] = COMPONENTS
    sweep: tuple[tuple[str, Size], ...] = ()  # (axis, size) for NanoGPT; axis "scale" grows all four together
    sweep_compile_axes: tuple[str, ...] = ("scale",)  # sweep points that also run torch.compile (train mode)
    sweep_modes: tuple[str, ...] = MODES
    sweep_impls: tuple[str, ...] | None = None  # None: the same as impls
    loop_steps: int = 1000  # steps of each training loop, in loop_rounds segments that take turns
    loop_rounds: int = 5  # segments per loop: each gives one paired ratio to the torch loop
    repeats: int = 7  # rounds at least: each implementation of a measurement gets one repeat per round, in turn
    max_rounds: int = 40  # rounds at most: more are added while a ratio's 95 % interval is wide (stats.until_narrow)
    budget_seconds: float = 30.0  # one measurement's rounds stop adding after this long
    loop_budget_seconds: float = 120.0  # the training loops' rounds stop adding after this long
    warmup: int = 2
    min_repeat_seconds: float = 0.1  # calls per repeat grow until one repeat lasts this long
    max_calls: int = 200
    threads: int = 1  # intra-op threads of each framework (the command sets them): the bench's own load
    limit: float = stats.INTERVAL_LIMIT  # a 95 % interval wider than this share of its median: flagged
    retries: int = 2  # kept in the JSON for older readers; the rounds adapt instead
    component_size: Size = CURRICULUM  # where the per-component table is measured
    loop_size: Size = CURRICULUM  # where the training loops are measured
    loops: tuple[str, ...] = LOOPS  # which of them


def sweep_points(axis_values: dict[str, tuple[int, ...]],
                 scale: tuple[Size, ...]) -> tuple[tuple[str, Size], ...]:
    """(axis, size) points: each axis grown alone from the curriculum's size, then the `scale` sizes."""
    points = []
    for axis, values in axis_values.items():
        for v in values:
            points.append((axis, Size(**{**asdict(CURRICULUM), axis: v})))
    points += [("scale", s) for s in scale]
    return tuple(points)


FULL = Plan(
    sweep=sweep_points({"batch": (32, 128, 512), "block_size": (8, 32, 128), "embed_size": (16, 64, 256),
                        "n_layers": (1, 5, 20)},
                       (CURRICULUM, Size(32, 32, 64, 5), Size(64, 64, 128, 5))),
    compile_modes=("train",), loop_steps=2000)
QUICK = Plan(  # the run's seconds are in its JSON (settings.wall_seconds), inductor's C++ compilation included
    # torch.compile on NanoGPT's forward only: its training step costs ~40-70 s of inductor compilation on a cold
    # cache (the forward ~25 s); JAX and NNX without jit: on NanoGPT's forward; the per-step loops: not at all
    compile_components=("NanoGPT",), compile_modes=("forward",), nojit_train_components=(),
    nojit_forward_components=("NanoGPT",),
    loops=("torch loop", "torch.compile loop", "flax scan", "flax lesson scan", "nnx scan", "nnx lesson scan"),
    # the sweep on the forward pass: a NanoGPT training step costs ~9 s of XLA compilation per size
    sweep=sweep_points({}, (CURRICULUM, Size(32, 32, 64, 5))),
    sweep_compile_axes=(),
    sweep_modes=("forward",), sweep_impls=("torch", "jax.jit", "nnx.jit"),  # without jit: in the component table
    loop_steps=240, loop_rounds=6, repeats=7, warmup=3, min_repeat_seconds=0.05, max_calls=50, retries=1,
    budget_seconds=6.0, loop_budget_seconds=50.0)


@dataclass(kw_only=True)
class Figure:
    """What every measured figure carries: its spread, its paired ratio to the torch reference, and the verdict
    on both (learngpt_lab/stats.py)."""
    spread: float = float("nan")  # (p75 - p25) / median of its times (seconds per call, or per step)
    speedup_vs_torch: float = float("nan")  # median over rounds of the torch reference's time / this time
    speedup_p25: float = float("nan")
    speedup_p75: float = float("nan")
    ratios: list = field(default_factory=list)  # the paired ratios, one per round
    ratio_spread: float = float("nan")  # (p75 - p25) / median of ratios
    interval: list = field(default_factory=list)  # 95 % interval of the ratio's median (the reference: its time)
    unstable: bool = False  # a flag below: the figure is not to be read as fact
    flags: list = field(default_factory=list)  # "interval" (stats.until_narrow); older runs: "time", "ratio", "load"
    reasons: list = field(default_factory=list)  # each flag in words
    load_average: float | None = None  # 1-minute load average, the larger at start and end of the measurement
    cpu_wait: float | None = None  # share of the wall time the bench's threads waited for a CPU (Linux)
    attempts: int = 0  # rounds paired (stats.until_narrow)
    error: str | None = None

    def judged(self, figure: stats.Judged, load: stats.Load, attempts: int) -> None:
        self.spread = stats.spread(figure.times)
        if figure.ratios is not None:
            self.ratios = list(figure.ratios)
            self.speedup_p25, self.speedup_vs_torch, self.speedup_p75 = stats.quartiles(figure.ratios)
            self.ratio_spread = stats.spread(figure.ratios)
        self.flags, self.reasons, self.unstable = figure.flags, figure.reasons, bool(figure.flags)
        self.interval = list(figure.interval) if figure.interval else []
        self.load_average, self.cpu_wait, self.attempts = load.load_average, load.cpu_wait, attempts


@dataclass
class Measurement(Figure):
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
    times_s: list = field(default_factory=list)  # per call, one per repeat (one repeat per round)


@dataclass
class LoopMeasurement(Figure):
    """Steps/s of a whole training loop (one of LOOPS), through the trainers."""
    loop: str
    size: dict
    steps: int
    steps_per_second: float
    train_seconds: float
    compile_seconds: float
    segment_steps: int = 0  # steps per segment; the loops take turns segment by segment
    rounds: int = 0
    rates: list = field(default_factory=list)  # steps/s of each segment
    # other loops this one is paired with, round by round: {loop: {"median", "interval", "flags", "reasons"}}
    versus: dict = field(default_factory=dict)


def planned(plan: Plan) -> list[tuple[str, str, str, Size, str]]:
    """Every (impl, component, mode, size, axis) the plan measures, torch eager first in each group."""
    todo, seen = [], set()  # a (impl, component, mode, size) met twice (a sweep point at the curriculum's size)

    def add(impl, comp, mode, size, axis):
        key = (impl, comp, mode, size)
        if key not in seen:
            seen.add(key)
            todo.append((impl, comp, mode, size, axis))

    for comp in plan.components:
        for mode in plan.modes:
            for impl in plan.impls:
                if impl == "torch.compile" and (comp not in plan.compile_components
                                                or mode not in plan.compile_modes):
                    continue
                if impl in NOJIT and mode == "train" and comp not in plan.nojit_train_components:
                    continue
                if impl in NOJIT and mode == "forward" and comp not in plan.nojit_forward_components:
                    continue
                add(impl, comp, mode, plan.component_size, "components")
    for axis, size in plan.sweep:
        for mode in plan.sweep_modes:
            for impl in plan.impls if plan.sweep_impls is None else plan.sweep_impls:
                if impl == "torch.compile" and not (mode == "train" and axis in plan.sweep_compile_axes):
                    continue
                add(impl, "NanoGPT", mode, size, axis)
    return todo


def groups(plan: Plan) -> list[tuple[str, str, Size, list[tuple[str, str]]]]:
    """The planned measurements grouped as they are measured: (component, mode, size, [(impl, axis), ...]),
    every implementation of one call at one size together, so that they take turns (runners.measure_group)."""
    out: dict = {}
    for impl, comp, mode, size, axis in planned(plan):
        out.setdefault((comp, mode, size), []).append((impl, axis))
    return [(comp, mode, size, members) for (comp, mode, size), members in out.items()]

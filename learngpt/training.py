"""What every trainer shares: the loop of evaluations and chunks of steps, the fixed evaluation batches, the
finite check and the run's history. A trainer supplies how to evaluate and how to run a chunk of steps."""
from __future__ import annotations

import contextlib
import contextvars
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from learngpt import memory
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.errors import ConfigError, DivergedError

EVAL_SEED_OFFSET = 1_000_003  # evaluation batches come from their own generator, never the training stream


@dataclass
class EvalPoint:
    """Mean loss over the fixed evaluation batches, measured before `step` (after the last step at the end)."""
    step: int
    train_loss: float
    val_loss: float


@dataclass
class History:
    """One training run: evaluations, the loss of every step, and where the time went."""
    backend: str
    evals: list[EvalPoint] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    steps: int = 0
    train_seconds: float = 0.0  # steady-state stepping, compile and evaluation excluded
    compile_seconds: float = 0.0  # Flax: jit compilation; torch: 0 (eager)
    eval_seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.train_seconds if self.train_seconds > 0 else float("nan")

    @property
    def final(self) -> EvalPoint:
        if not self.evals:
            raise ValueError("this run made no evaluation")
        return self.evals[-1]

    def to_dict(self) -> dict:
        return {"backend": self.backend, "steps": self.steps, "steps_per_second": self.steps_per_second,
                "train_seconds": self.train_seconds, "compile_seconds": self.compile_seconds,
                "eval_seconds": self.eval_seconds, "step_losses": list(self.step_losses),
                "evals": [vars(e) for e in self.evals]}


def compiled_once(programs: dict, history: History, key: Any, build: Callable[[], Any]) -> Any:
    """programs[key], built (compiled ahead of time) the first time; the seconds that took are added to
    history.compile_seconds, so that the steps' time never includes a compilation."""
    if key not in programs:
        t0 = time.perf_counter()
        programs[key] = build()
        history.compile_seconds += time.perf_counter() - t0
    return programs[key]


def chunks(max_iters: int, eval_interval: int) -> list[tuple[int, int]]:
    """The runs of steps between two evaluations, [(start, stop), ...]; evaluations come before each
    start and after the last stop, as in the seed's loop (step 0, every eval_interval, and the end)."""
    if max_iters < 0 or eval_interval <= 0:
        raise ConfigError(f"expected max_iters >= 0 and eval_interval > 0, got {max_iters} and {eval_interval}")
    return [(s, min(s + eval_interval, max_iters)) for s in range(0, max_iters, eval_interval)]


def eval_data(sampler: BatchSampler, cfg: Config, n_batches: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The fixed evaluation batches, (n, B, T) per split: every evaluation of every backend sees the same ones.
    Every trainer starts here: a run that cannot fit in memory is refused (ConfigError) before any allocation."""
    memory.check(cfg)
    n = cfg.eval_iters if n_batches is None else n_batches
    return {split: sampler.eval_batches(split, n, seed=cfg.seed + EVAL_SEED_OFFSET) for split in ("train", "val")}


def check_finite(losses, first_step: int, what: str = "training loss") -> None:
    """Stop a run whose loss left the real numbers: DivergedError naming the first such step (losses[i] is
    the loss of step first_step + i)."""
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise DivergedError(f"the {what} is {values[i]} at step {first_step + i}: training diverged (a learning rate "
                            f"too large?); stopped there, and nothing was saved")


def record_eval(history: History, train_loss: float, val_loss: float, started: float, bar=None) -> EvalPoint:
    """One evaluation, made since time.perf_counter() read `started`, into history: both losses checked finite
    (DivergedError naming the step), the time added to eval_seconds, the losses shown on the progress bar."""
    point = EvalPoint(len(history.step_losses), train_loss, val_loss)
    check_finite([point.train_loss, point.val_loss], point.step, "evaluation loss")
    history.evals.append(point)
    history.eval_seconds += time.perf_counter() - started
    if bar is not None:
        bar.set_postfix(train=f"{point.train_loss:.4f}", val=f"{point.val_loss:.4f}")
    return point


_EVERY_EVALUATION = contextvars.ContextVar("every_evaluation", default=True)


@contextlib.contextmanager
def last_evaluation_only():
    """Within it, run_chunks evaluates once, after the last step: for a run that reads only its final
    evaluation (a curriculum question's). The chunks and their steps are the same, and an evaluation changes
    neither the model nor a random stream, so that evaluation is the same, bit for bit."""
    token = _EVERY_EVALUATION.set(False)
    try:
        yield
    finally:
        _EVERY_EVALUATION.reset(token)


def run_chunks(history: History, cfg: Config, max_iters: int | None, eval_interval: int | None,
               evaluate: Callable[[], tuple[float, float]],
               train_chunk: Callable[[int, int], tuple[Sequence[float], float]],
               progress: bool = False, desc: str = "") -> History:
    """The seed's loop: max_iters steps (None: cfg's), evaluating (train and validation loss) every
    eval_interval steps (None: cfg's) and after the last; train_chunk(start, stop) runs steps start..stop-1 and
    returns their losses and the seconds of steady stepping they took (compilation excluded). Every loss is
    checked finite (DivergedError naming the step); the progress bar shows the steps and the last evaluation.
    Under last_evaluation_only(), the evaluations before the chunks are left out."""
    every = _EVERY_EVALUATION.get()
    max_iters = cfg.max_iters if max_iters is None else max_iters
    eval_interval = cfg.eval_interval if eval_interval is None else eval_interval
    from tqdm.auto import tqdm
    bar = tqdm(total=max_iters, desc=desc, disable=not progress, leave=False)

    def estimate() -> None:
        t0 = time.perf_counter()
        record_eval(history, *evaluate(), t0, bar)

    try:
        for start, stop in chunks(max_iters, eval_interval):
            if every:
                estimate()
            losses, seconds = train_chunk(start, stop)
            check_finite(losses, start)  # a diverged run stops here, naming the step
            history.step_losses += [float(v) for v in losses]
            history.train_seconds += seconds
            history.steps = stop
            bar.update(stop - start)
        estimate()
    finally:
        bar.close()  # the bar's line cleared, also when the run stops: an error's one line starts a line
    return history

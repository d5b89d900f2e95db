"""The backends by name: the one table from a name to its adapter (a module of this package, a class in it
that implements protocol.Adapter), its lesson package and its labels (BACKENDS), and what commands and tests
use to pick backends (get, selected, parse, spelled).

A caller holds a `Backend` and a `Model` and sees numpy arrays only; every operation is the adapter's method:

    backend = backends.get("flax", dtype="float64")
    model = backend.create(lambda lib: lib.MultiHeadVer2(8, 16, 4), example=x, seed=0)
    y = backend.forward(model, x)                 # flax_backend.FlaxAdapter.forward
    history = backend.train(model, cfg, sampler)  # the lesson package's own trainer, in place

`lib` is the lesson package (learngpt_torch, learngpt_flax or learngpt_nnx): the same recipe builds each twin.
Adding a backend means adding its lesson package, one adapter module here and its entry in BACKENDS (and its
lesson notes): BACKENDS is the one place the lab keeps a backend's name, lesson package and labels, and it is
read without importing any framework (tests/unit/test_layout.py lists the files elsewhere that name one).
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import os
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterator

import numpy as np

from learngpt.components import NANOGPT, Architecture
from learngpt.config import Config
from learngpt.errors import DivergedError, UserError
from learngpt_lab import checkpoints
from learngpt_lab.backends.protocol import DEVICES, DTYPES, OPERATIONS, Adapter, Model, check_device, unimplemented

if TYPE_CHECKING:
    from learngpt.data import BatchSampler
    from learngpt.parallel import World
    from learngpt.training import History


@dataclass(frozen=True)
class Entry:
    """One backend in BACKENDS: its adapter (a module of this package and the class in it, imported with its
    framework on first use), its lesson package, and how the lab's text names it."""
    module: str  # the adapter's module, in this package
    cls: str  # the adapter's class in it (implements protocol.Adapter)
    package: str  # the lesson package its recipes build from
    label: str  # in lessons, exercises and figures: "Flax linen"
    short: str  # in the parity table's pair names (torch-linen): "linen"
    compiles: bool  # whether its timed forward with jit=True runs a compiled program (Adapter.timed_forward)
    init_method: str  # the method that plays torch's __init__ (DESIGN.md's mirror table): linen's setup
    forward_method: str  # the method that plays torch's forward


BACKENDS = {  # name -> Entry: the one table of the backends, the reference first
    "torch": Entry("torch_backend", "TorchAdapter", "learngpt_torch", "torch", "torch", compiles=False,
                   init_method="__init__", forward_method="forward"),
    "flax": Entry("flax_backend", "FlaxAdapter", "learngpt_flax", "Flax linen", "linen", compiles=True,
                  init_method="setup", forward_method="__call__"),
    "nnx": Entry("nnx_backend", "NnxAdapter", "learngpt_nnx", "Flax NNX", "NNX", compiles=True,
                 init_method="__init__", forward_method="__call__"),
}
NAMES = tuple(BACKENDS)
REFERENCE = NAMES[0]  # torch: every other backend (a port) is compared with it
PORTS = NAMES[1:]
ENV_VAR = "LEARNGPT_BACKEND"  # narrows the tests and commands to some backends: torch, flax, nnx (commas)

__all__ = ["BACKENDS", "Adapter", "Backend", "Entry", "Model", "NAMES", "PORTS", "REFERENCE", "DTYPES", "DEVICES",
           "ENV_VAR", "OPERATIONS", "adapter", "get", "check_device", "selected", "parse", "spelled"]


def spelled(conjunction: str = "or") -> str:
    """The backends' names as help text says them: 'torch, flax or nnx'."""
    return f"{', '.join(NAMES[:-1])} {conjunction} {NAMES[-1]}" if len(NAMES) > 1 else NAMES[0]


@functools.lru_cache(maxsize=None)
def adapter(name: str) -> Adapter:
    """The adapter of a backend in BACKENDS, its module imported (and with it the framework); a TypeError naming
    everything its class lacks of protocol.Adapter or spells with other parameters."""
    entry = BACKENDS[name]
    cls = entry.cls
    found = getattr(importlib.import_module(f"{__name__}.{entry.module}"), cls)
    problems = unimplemented(found)
    if getattr(found, "package", entry.package) != entry.package:
        problems.append(f"its package is {found.package!r}, BACKENDS says {entry.package!r}")
    if problems:
        raise TypeError(f"{found.__module__}.{cls} does not implement protocol.Adapter: {'; '.join(problems)}")
    return found()


@dataclass(frozen=True)
class Backend:
    """A backend in a dtype, as the lab holds it: created without importing a framework (a name checked early
    costs nothing); each operation is its adapter's (protocol.Adapter says what each does), create in this
    dtype, and what the lab builds on them is here, once (a device block, checkpoints, the finite-logits check).
    """
    name: str
    dtype: str = "float32"

    def __repr__(self) -> str:
        return self.name if self.dtype == "float32" else f"{self.name}[{self.dtype}]"

    @property
    def adapter(self) -> Adapter:
        return adapter(self.name)

    @property
    def lib(self) -> Any:
        """What a recipe(lib) receives: learngpt_torch, learngpt_flax, or learngpt_nnx with rngs given."""
        return self.adapter.lib

    def module(self, name: str) -> ModuleType:
        """One of the lesson package's modules: parallel, trainer, fast, ..."""
        return importlib.import_module(f"{BACKENDS[self.name].package}.{name}")

    def device_scope(self, device: str) -> ContextManager[None]:
        return self.adapter.device_scope(device)

    def create(self, recipe: Callable[[Any], Any], example: np.ndarray | None = None, seed: int = 0,
               weights: dict | None = None) -> Model:
        return self.adapter.create(recipe, example, seed, weights, self.dtype)

    def forward(self, model: Model, x: np.ndarray, train: bool = False, seed: int = 0) -> np.ndarray:
        return self.adapter.forward(model, x, train, seed)

    def intermediates(self, model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.adapter.intermediates(model, x)

    def loss(self, model: Model, x: np.ndarray, y: np.ndarray) -> float:
        return self.adapter.loss(model, x, y)

    def param_count(self, model: Model, prefix: str = "") -> int:
        return self.adapter.param_count(model, prefix)

    def train(self, model: Model, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
              max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False) -> History:
        return self.adapter.train(model, cfg, sampler, evals, max_iters, eval_interval, progress)

    def train_parallel(self, model: Model, cfg: Config, sampler: BatchSampler, world: World,
                       evals: dict | None = None, max_iters: int | None = None, eval_interval: int | None = None,
                       shard_params: bool = False, progress: bool = False, devices: int | None = None,
                       device: str = "cpu") -> tuple[History, dict]:
        return self.adapter.train_parallel(model, cfg, sampler, world, evals, max_iters, eval_interval,
                                           shard_params, progress, devices, device)

    def dropout_masks(self, shape: tuple, rate: float, seed: int, world: World,
                      device: str = "cpu") -> list[np.ndarray]:
        return self.adapter.dropout_masks(shape, rate, seed, world, device)

    def get_weights(self, model: Model) -> dict[str, np.ndarray]:
        return self.adapter.get_weights(model)

    def set_weights(self, model: Model, weights: dict[str, np.ndarray]) -> None:
        self.adapter.set_weights(model, weights)

    def generate(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
                 temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
        return self.adapter.generate(model, idx, max_new_tokens, greedy, seed, temperature, top_k)

    def complete(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
                 temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
        return self.adapter.complete(model, idx, max_new_tokens, greedy, seed, temperature, top_k)

    @contextlib.contextmanager
    def on(self, device: str) -> Iterator[None]:
        """Within the block, models are created and run on device (cpu or gpu); a clear error if it is absent."""
        with self.device_scope(check_device(device)):
            yield

    def save_checkpoint(self, path: str | os.PathLike, model: Model, cfg: Config, vocab: str,
                        architecture: Architecture = NANOGPT, step: int = 0):
        """A checkpoint file (learngpt_lab.checkpoints) of this model, in the torch layout every backend reads."""
        return checkpoints.save(path, checkpoints.Checkpoint(self.get_weights(model), cfg, architecture, vocab,
                                                             self.name, step))

    def load_checkpoint(self, path: str | os.PathLike) -> tuple[Model, checkpoints.Checkpoint]:
        """(model, checkpoint): a checkpoint written by any backend, its model rebuilt here."""
        ckpt = checkpoints.load(path)
        cfg = ckpt.config
        ckpt.architecture.check_weights(cfg, ckpt.weights, str(path))  # before building what it describes
        model = self.create(ckpt.architecture.recipe(cfg), example=np.zeros((1, cfg.block_size), np.int64),
                            weights=ckpt.weights)  # WeightMismatchError before anything is loaded
        probe = (np.arange(cfg.block_size) % cfg.vocab_size)[None, :].astype(np.int64)  # (1, T): every position
        self.check_logits(model, probe, str(path), ckpt.weights)
        return model, ckpt

    def check_logits(self, model: Model, idx: np.ndarray, what: str, weights: dict | None = None) -> None:
        """DivergedError in one line if the model's logits on idx (B, T) are not all finite: finite weights can
        still overflow (a crafted or diverged checkpoint, its digest recomputed), and sampling or drawing from
        NaN would give garbage or a framework's own error."""
        logits = self.forward(model, idx)  # (B, T, V)
        if np.isfinite(logits).all():
            return
        largest = max((float(np.abs(w).max()) for w in (weights or {}).values() if np.size(w)), default=None)
        size = f" (its largest weight is {largest:.1e} in magnitude)" if largest is not None else ""
        raise DivergedError(f"{what}: the model's forward gives non-finite logits (NaN or infinity) on "
                            f"{idx.shape[1]} tokens{size}; refused before sampling or drawing")


def get(name: str, dtype: str = "float32") -> Backend:
    if name not in NAMES:
        raise UserError(f"unknown backend {name!r}; expected one of {', '.join(NAMES)}")
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    return Backend(name, dtype)


def selected(requested: str | None = None) -> tuple[str, ...]:
    """The backends to run: an explicit choice (names, commas between), else $LEARNGPT_BACKEND, else all."""
    value = requested or os.environ.get(ENV_VAR) or ""
    if not value or value == "both":
        return NAMES
    names = tuple(v.strip() for v in value.split(","))
    for n in names:
        if n not in NAMES:
            raise UserError(f"unknown backend {n!r}; expected one of {', '.join(NAMES)}")
    return names


def parse(text: str, flag: str = "--backends") -> tuple[str, ...]:
    """Backends named on the command line (commas between): each known, none twice, at least one."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise UserError(f"{flag} is empty; expected comma-separated names of {', '.join(NAMES)}")
    for n in names:
        get(n)
    if len(set(names)) != len(names):
        raise UserError(f"{flag} names a backend twice: {text!r}")
    return names

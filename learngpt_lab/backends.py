"""A backend by name: the table from a name and a dtype to the backend package's runtime module.

A caller holds a `Backend` and a `Model` and sees numpy arrays only; every operation is the runtime
module's own function (learngpt/runtime.py lists them), called as a method:

    backend = backends.get("flax", dtype="float64")
    model = backend.create(lambda lib: lib.MultiHeadVer2(8, 16, 4), example=x, seed=0)
    y = backend.forward(model, x)                 # learngpt_flax.runtime.forward(model, x)
    history = backend.train(model, cfg, sampler)  # learngpt_flax.runtime.train(...)

`lib` is the backend package (learngpt_torch or learngpt_flax): the same recipe builds either twin. Adding a
backend means adding its package, with a runtime module, and its name here.
"""
from __future__ import annotations

import contextlib
import importlib
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Iterator

import numpy as np

from learngpt.components import NANOGPT, Architecture
from learngpt.config import Config
from learngpt.errors import DivergedError, UserError
from learngpt.runtime import DEVICES, DTYPES, SURFACE, Model
from learngpt_lab import checkpoints

NAMES = ("torch", "flax", "nnx")  # nnx: Flax NNX (learngpt_nnx), beside linen (learngpt_flax)
ENV_VAR = "LEARNGPT_BACKEND"  # narrows the tests and commands to some backends: torch, flax, nnx (commas)

__all__ = ["Backend", "Model", "NAMES", "DTYPES", "DEVICES", "ENV_VAR", "get", "check_device", "selected", "parse",
           "spelled"]


def spelled(conjunction: str = "or") -> str:
    """The backends' names as help text says them: 'torch, flax or nnx'."""
    return f"{', '.join(NAMES[:-1])} {conjunction} {NAMES[-1]}" if len(NAMES) > 1 else NAMES[0]


@dataclass(frozen=True)
class Backend:
    """A backend package in a dtype; its runtime's functions as methods (the model argument first)."""
    name: str
    dtype: str = "float32"

    def __repr__(self) -> str:
        return self.name if self.dtype == "float32" else f"{self.name}[{self.dtype}]"

    @property
    def lib(self) -> ModuleType:
        """The backend package: learngpt_torch, learngpt_flax or learngpt_nnx (through the runtime's Seeded,
        where there is one: NNX's constructors need rngs, which it gives)."""
        package = importlib.import_module(f"learngpt_{self.name}")
        return getattr(self.module("runtime"), "Seeded", lambda p: p)(package)

    def module(self, name: str) -> ModuleType:
        """One of the package's modules: runtime, parallel, trainer, fast, ..."""
        return importlib.import_module(f"learngpt_{self.name}.{name}")

    def __getattr__(self, op: str) -> Callable:
        if op in SURFACE and op != "create":
            return getattr(self.module("runtime"), op)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {op!r}")

    def create(self, recipe: Callable[[Any], Any], example: np.ndarray | None = None, seed: int = 0,
               weights: dict | None = None) -> Model:
        return self.module("runtime").create(recipe, example, seed, weights, self.dtype)

    @contextlib.contextmanager
    def on(self, device: str) -> Iterator[None]:
        """Within the block, models are created and run on device (cpu or gpu); a clear error if it is absent."""
        with self.module("runtime").device_scope(check_device(device)):
            yield

    def save_checkpoint(self, path: str | os.PathLike, model: Model, cfg: Config, vocab: str,
                        architecture: Architecture = NANOGPT, step: int = 0):
        """A checkpoint file (learngpt_lab.checkpoints) of this model, in the torch layout either backend reads."""
        return checkpoints.save(path, checkpoints.Checkpoint(self.get_weights(model), cfg, architecture, vocab,
                                                             self.name, step))

    def load_checkpoint(self, path: str | os.PathLike) -> tuple[Model, checkpoints.Checkpoint]:
        """(model, checkpoint): a checkpoint written by either backend, its model rebuilt here."""
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


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    return device


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

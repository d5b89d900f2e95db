"""Faster torch training: what the lesson (learngpt_torch/trainer.py) leaves out, opt-in.

`fast.train` is `trainer.train` with the model run through `torch.compile` (TorchInductor generates one
program for the forward pass and one for the backward where eager torch dispatches every op), compiled
before the clock starts. The same maths: float64 trajectories agree with the lesson's to roundoff
(tests/unit/test_torch_fast.py). Dropout draws its masks inside the compiled program, from Inductor's own
generator seeded by torch's: other masks than eager's, equally Bernoulli(1 - rate).
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import torch

from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History
from learngpt_torch import trainer
from learngpt_torch.optim import make_optimizer  # torch.optim.AdamW, every hyper-parameter stated


def make_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Callable:
    """trainer.make_step over torch.compile(model): the optimizer stays eager."""
    return trainer.make_step(torch.compile(model), optimizer)


def warm_up(model: torch.nn.Module, cfg: Config) -> float:
    """Compile the training step on a copy of model and of a fresh optimizer (one step on a batch of zeros,
    torch's random state restored afterwards); returns the seconds it took. Nothing of model changes."""
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        twin = copy.deepcopy(model).train()
        x, y = (torch.zeros((cfg.batch_size, cfg.block_size), dtype=torch.int64, device=device) for _ in "xy")
        make_step(twin, make_optimizer(twin, cfg))(x, y)  # two tensors, as in training: no aliasing guard
    return time.perf_counter() - t0


def train(model: torch.nn.Module, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          desc: str = "torch") -> History:
    """trainer.train with the step compiled (the module docstring): trainer.loop runs make_step's step; the
    compilation is timed apart."""
    compile_seconds = warm_up(model, cfg)
    step = make_step(model, make_optimizer(model, cfg))
    history = trainer.loop(model, step, cfg, sampler, evals, max_iters, eval_interval, progress, desc)
    history.compile_seconds = compile_seconds
    return history

"""The curriculum's training loop in torch: AdamW, one batch per step, evaluation on fixed batches."""
import time
from typing import Callable

import numpy as np
import torch

from learngpt import checks
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History, eval_data, run_chunks
from learngpt_torch.optim import make_optimizer  # torch.optim.AdamW, every hyper-parameter stated


def make_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Callable:
    """One AdamW step: (x, y) -> the loss before the update, not synchronised; dropout on in train mode."""
    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _, loss = model(x, y)  # (B, T), (B, T) -> ()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()
    return step


@torch.no_grad()
def evaluate(model: torch.nn.Module, xs: np.ndarray, ys: np.ndarray) -> float:
    """Mean loss over the batches xs, ys (n, B, T), in eval mode (dropout off): one synchronisation."""
    checks.check_host_ids(model.vocab_size, xs, ys)  # on the host: the forward passes read no id back
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with checks.ids_checked():
        losses = [model(torch.as_tensor(x, device=device), torch.as_tensor(y, device=device))[1]
                  for x, y in zip(xs, ys)]
    model.train(was_training)
    return float(torch.stack(losses).mean())


def train(model: torch.nn.Module, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          desc: str = "torch") -> History:
    """Train model in place for max_iters AdamW steps on sampler's batches; evaluate between chunks."""
    step = make_step(model, make_optimizer(model, cfg))
    return loop(model, step, cfg, sampler, evals, max_iters, eval_interval, progress, desc)


def loop(model: torch.nn.Module, step: Callable, cfg: Config, sampler: BatchSampler, evals: dict | None,
         max_iters: int | None, eval_interval: int | None, progress: bool, desc: str) -> History:
    """train's loop of chunks and evaluations, step(x, y) on each batch: learngpt_torch/fast.py's step too."""
    evals = eval_data(sampler, cfg) if evals is None else evals
    device = next(model.parameters()).device

    def estimate() -> tuple[float, float]:
        return evaluate(model, *evals["train"]), evaluate(model, *evals["val"])

    def chunk(start: int, stop: int) -> tuple[list[float], float]:
        xs, ys = sampler.sample_many(stop - start, "train")  # (n, B, T) each: what n calls of sample() draw
        checks.check_host_ids(model.vocab_size, xs, ys)  # on the host, before any step: none reads ids back
        t0 = time.perf_counter()
        with checks.ids_checked():
            losses = [step(torch.as_tensor(x, device=device), torch.as_tensor(y, device=device))
                      for x, y in zip(xs, ys)]
        losses = torch.stack(losses).tolist()  # the chunk's one synchronisation
        return losses, time.perf_counter() - t0

    model.train()
    return run_chunks(History("torch"), cfg, max_iters, eval_interval, estimate, chunk, progress, desc)

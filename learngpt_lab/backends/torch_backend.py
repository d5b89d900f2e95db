"""The torch adapter (protocol.Adapter): learngpt_torch's models, trainers and generate, numpy in, numpy out."""
from __future__ import annotations

import contextlib
import copy
import time
from typing import Any, Callable, Iterator

import numpy as np
import torch

import learngpt_torch
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.errors import UserError
from learngpt.parallel import World
from learngpt.training import History
from learngpt_lab.backends.protocol import Model
from learngpt_torch import parallel, trainer
from parity.bridge import load_into_torch, torch_state

_DEVICE = {"cpu": "cpu", "gpu": "cuda"}
_where = ["cpu"]  # the device models are created on: device_scope sets it


def _tensor(model: Model, x) -> torch.Tensor:
    first = next(iter(model.module.parameters()), None)
    return torch.as_tensor(np.asarray(x), device=first.device if first is not None else "cpu")


class TorchAdapter:
    package = "learngpt_torch"
    lib = learngpt_torch

    @contextlib.contextmanager
    def device_scope(self, device: str) -> Iterator[None]:
        if device == "gpu" and not torch.cuda.is_available():
            raise UserError("--device gpu: torch sees no CUDA device (torch.cuda.is_available() is False)")
        _where.append(device)
        try:
            yield
        finally:
            _where.pop()

    def build(self, recipe: Callable[[Any], Any], seed: int = 0, lib: Any = None) -> Any:
        torch.manual_seed(seed)  # torch initialises while it builds
        return recipe(learngpt_torch if lib is None else lib)

    def param_shapes(self, module: Any, example: tuple) -> dict[str, tuple]:
        return {k: tuple(v.shape) for k, v in module.state_dict().items()}

    def timed_forward(self, model: Model, x: np.ndarray, calls: int, jit: bool) -> float:
        model.module.eval()  # eager: torch has no jit here (learngpt bench measures torch.compile)
        tx = torch.as_tensor(x)
        with torch.no_grad():
            model.module(tx)  # warm-up
            t0 = time.perf_counter()
            for _ in range(calls):
                model.module(tx)
            return time.perf_counter() - t0

    def create(self, recipe: Callable[[Any], Any], example: np.ndarray | None = None, seed: int = 0,
               weights: dict | None = None, dtype: str = "float32") -> Model:
        module = self.build(recipe, seed).to(device=_DEVICE[_where[-1]], dtype=getattr(torch, dtype))  # no example
        model = Model(module, dtype=dtype)
        if weights is not None:
            self.set_weights(model, weights)
        return model

    def forward(self, model: Model, x: np.ndarray, train: bool = False, seed: int = 0) -> np.ndarray:
        torch.manual_seed(seed)
        model.module.train(train)
        with torch.no_grad():
            out = model.module(_tensor(model, x))
        out = out[0] if isinstance(out, tuple) else out
        return out.cpu().numpy()

    def intermediates(self, model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
        self.forward(model, x)
        found = {}
        for name, sub in model.module.named_modules():
            # a tensor set as a plain attribute in forward (not a parameter, buffer or submodule) is exposed
            for attr, value in vars(sub).items():
                if isinstance(value, torch.Tensor):
                    found[f"{name}.{attr}" if name else attr] = value.detach().cpu().numpy()
        return found

    def loss(self, model: Model, x: np.ndarray, y: np.ndarray) -> float:
        model.module.eval()
        with torch.no_grad():
            return float(model.module(_tensor(model, x), _tensor(model, y))[1])

    def param_count(self, model: Model, prefix: str = "") -> int:
        return sum(p.numel() for n, p in model.module.named_parameters() if n.startswith(prefix))

    def train(self, model: Model, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
              max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False) -> History:
        return trainer.train(model.module, cfg, sampler, evals, max_iters, eval_interval, progress, desc="torch")

    def train_parallel(self, model: Model, cfg: Config, sampler: BatchSampler, world: World,
                       evals: dict | None = None, max_iters: int | None = None, eval_interval: int | None = None,
                       shard_params: bool = False, progress: bool = False, devices: int | None = None,
                       device: str = "cpu") -> tuple[History, dict]:
        plain = copy.deepcopy(model.module)  # unsharded: receives the whole weights after training
        state, history = parallel.train(model.module, cfg, sampler, world, evals, max_iters, eval_interval,
                                        shard_params=shard_params, progress=progress, desc="torch")
        held = {**parallel.held(*state), "total": self.param_count(model)}
        load_into_torch(plain, parallel.gather(state[0]))
        model.module = plain
        return history, held

    def dropout_masks(self, shape: tuple, rate: float, seed: int, world: World,
                      device: str = "cpu") -> list[np.ndarray]:
        return parallel.dropout_masks(shape, rate, seed, world)

    def get_weights(self, model: Model) -> dict[str, np.ndarray]:
        return torch_state(model.module)

    def set_weights(self, model: Model, weights: dict[str, np.ndarray]) -> None:
        load_into_torch(model.module, weights)

    def generate(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
                 temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
        model.module.eval()
        tidx = _tensor(model, idx)
        generator = torch.Generator(device=tidx.device).manual_seed(seed)
        return model.module.generate(tidx, max_new_tokens, greedy=greedy, generator=generator,
                                     temperature=temperature, top_k=top_k).cpu().numpy()

    def complete(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
                 temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
        return self.generate(model, idx, max_new_tokens, greedy, seed, temperature, top_k)  # eager: no faster way

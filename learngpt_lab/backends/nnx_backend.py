"""The Flax NNX adapter (protocol.Adapter): learngpt_nnx's modules, their parameters inside them as in torch,
numpy in, numpy out; `Seeded` lets a recipe written for torch and linen build them."""
from __future__ import annotations

import functools
import inspect
from types import ModuleType
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import learngpt_nnx
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.parallel import World
from learngpt.training import History
from learngpt_lab.backends.jax_common import JaxAdapter, cast, shapes, x64
from learngpt_lab.backends.protocol import Model
from learngpt_nnx import fast, parallel
from parity.nnx import nnx_params, nnx_to_torch, torch_to_nnx


class Seeded:
    """A backend package whose constructors draw from one nnx.Rngs: what a recipe(lib) written for torch and
    linen (no rngs argument) needs in NNX, where a module initialises its parameters as it is built
    (NnxAdapter.lib gives one: its rngs seeded 0)."""

    def __init__(self, package: ModuleType, rngs: nnx.Rngs | None = None):
        self._package, self._rngs = package, nnx.Rngs(params=0, dropout=0) if rngs is None else rngs

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._package, name)
        if inspect.ismodule(found):  # lib.layers.linear(...)
            return Seeded(found, self._rngs)
        init = found.__init__ if inspect.isclass(found) else found
        if callable(found) and "rngs" in inspect.signature(init).parameters:
            return functools.partial(found, rngs=self._rngs)
        return found


def _cast(module: nnx.Module, dtype: str) -> None:
    """The module's floating-point parameters in dtype, in place."""
    nnx.update(module, cast(nnx.state(module, nnx.Param), dtype))


def _mode(model: Model, train: bool, seed: int = 0) -> nnx.Module:
    """The module in train (dropout on, its streams reseeded from seed) or eval mode."""
    if train:
        model.module.train()
        nnx.reseed(model.module, dropout=seed)
    else:
        model.module.eval()
    return model.module


class NnxAdapter(JaxAdapter):
    package = "learngpt_nnx"
    parallel = parallel

    @property
    def lib(self) -> Seeded:
        return Seeded(learngpt_nnx)

    def build(self, recipe: Callable[[Any], Any], seed: int = 0, lib: Any = None) -> nnx.Module:
        """Parameters drawn from nnx.Rngs(params=seed), every Dropout's stream forked from nnx.Rngs(dropout=seed)."""
        return recipe(Seeded(learngpt_nnx if lib is None else lib, nnx.Rngs(params=seed, dropout=seed)))

    def param_shapes(self, module: Any, example: tuple) -> dict[str, tuple]:
        return shapes(nnx_params(module))

    def _pure(self, model: Model):
        return fast.pure(model.module)  # the module's State taken as linen's apply takes params

    def create(self, recipe: Callable[[Any], Any], example: np.ndarray | None = None, seed: int = 0,
               weights: dict | None = None, dtype: str = "float32") -> Model:
        with jax.enable_x64(dtype == "float64"):
            if weights is not None:  # the structure only (no init computed: op by op it takes seconds)
                module = nnx.eval_shape(lambda: self.build(recipe, seed))
                torch_to_nnx(weights, module)  # every parameter set (WeightMismatchError before any is)
                nnx.reseed(module, dropout=seed)  # the dropout streams' keys and counts, concrete
            else:  # drawn natively (the same distributions as torch's defaults)
                module = self.build(recipe, seed)
            _cast(module, dtype)
            return Model(module, None, dtype)  # the parameters live in the module, as in torch

    @x64
    def forward(self, model: Model, x: np.ndarray, train: bool = False, seed: int = 0) -> np.ndarray:
        out = _mode(model, train, seed)(np.asarray(x))
        out = out[0] if isinstance(out, tuple) else out
        return np.asarray(out)

    @x64
    def intermediates(self, model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
        _mode(model, False)(np.asarray(x))
        return {".".join(str(p) for p in path): np.asarray(v.get_value())
                for path, v in nnx.to_flat_state(nnx.state(model.module, nnx.Intermediate))}

    @x64
    def loss(self, model: Model, x: np.ndarray, y: np.ndarray) -> float:
        return float(_mode(model, False)(np.asarray(x), np.asarray(y))[1])

    def param_count(self, model: Model, prefix: str = "") -> int:
        return sum(int(v.size) for k, v in self.get_weights(model).items() if k.startswith(prefix))

    @x64
    def train(self, model: Model, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
              max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False) -> History:
        return fast.train(model.module, cfg, sampler, evals, max_iters, eval_interval, progress,
                          desc="nnx")  # in place; dropout: fast.dropout_key

    @x64
    def train_parallel(self, model: Model, cfg: Config, sampler: BatchSampler, world: World,
                       evals: dict | None = None, max_iters: int | None = None, eval_interval: int | None = None,
                       shard_params: bool = False, progress: bool = False, devices: int | None = None,
                       device: str = "cpu") -> tuple[History, dict]:
        mesh = parallel.make_mesh(world, device, devices)
        state, history = parallel.train(model.module, cfg, sampler, world, evals, max_iters, eval_interval, mesh,
                                        shard_params, progress, desc="nnx",
                                        make_step=fast.make_step)  # the single-device trainer's step
        held = {**parallel.held(state), "total": self.param_count(model)}
        parallel.gather_into(model.module, state, mesh)
        return history, held

    @x64
    def get_weights(self, model: Model) -> dict[str, np.ndarray]:
        return nnx_to_torch(model.module)

    @x64
    def set_weights(self, model: Model, weights: dict[str, np.ndarray]) -> None:
        torch_to_nnx(weights, model.module)

    @x64
    def generate(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
                 temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
        out = _mode(model, False).generate(np.asarray(idx), max_new_tokens, greedy, temperature, top_k,
                                           rngs=nnx.Rngs(sample=seed))
        return np.asarray(out)

    def _next_token(self, model: Model, greedy: bool, temperature: float, top_k: int | None):
        graphdef, state = nnx.split(_mode(model, False))

        @jax.jit
        def next_token(state, window, last, key):  # window (B, block), last: index of the last real token
            model = nnx.merge(graphdef, state)  # rebuilt inside the trace: its attributes may be set there
            logits, _ = model(window)  # (B, block, V)
            logits = jnp.take(logits, last, axis=1)  # (B, V)
            if greedy:
                return logits.argmax(axis=-1)  # (B,)
            logits = model.sampling_logits(logits, temperature, top_k)
            return jax.random.categorical(key, logits, axis=-1)  # (B,)

        return functools.partial(next_token, state)

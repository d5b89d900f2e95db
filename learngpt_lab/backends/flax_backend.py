"""The Flax linen adapter (protocol.Adapter): learngpt_flax's modules, their params beside them in the Model,
numpy in, numpy out."""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

import learngpt_flax
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.parallel import World
from learngpt.training import History
from learngpt_flax import fast, parallel
from learngpt_lab.backends.jax_common import JaxAdapter, cast, shapes, x64
from learngpt_lab.backends.protocol import Model
from parity.bridge import abstract_params, flat_tree, flax_to_torch, torch_to_flax


class FlaxAdapter(JaxAdapter):
    package = "learngpt_flax"
    lib = learngpt_flax
    parallel = parallel

    def build(self, recipe: Callable[[Any], Any], seed: int = 0, lib: Any = None) -> Any:
        return recipe(learngpt_flax if lib is None else lib)  # a description: its params are drawn by init

    def param_shapes(self, module: Any, example: tuple) -> dict[str, tuple]:
        return shapes(abstract_params(module, *[jnp.asarray(a) for a in example]))

    def _pure(self, model: Model):
        module = model.module
        return (lambda p, inp: module.apply({"params": p}, inp)), model.params, repr(module)

    def create(self, recipe: Callable[[Any], Any], example: np.ndarray | None = None, seed: int = 0,
               weights: dict | None = None, dtype: str = "float32") -> Model:
        module = self.build(recipe, seed)
        with jax.enable_x64(dtype == "float64"):
            if weights is not None:  # the params' shapes only (no init computed: op by op it takes seconds)
                params = torch_to_flax(weights, abstract_params(module, np.asarray(example)))
            else:  # drawn natively (the same distributions as torch's defaults); {} for a module without any
                params = module.init({"params": jax.random.key(seed)}, np.asarray(example)).get("params", {})
            return Model(module, cast(params, dtype), dtype)

    @x64
    def forward(self, model: Model, x: np.ndarray, train: bool = False, seed: int = 0) -> np.ndarray:
        out = model.module.apply({"params": model.params}, np.asarray(x), deterministic=not train,
                                 rngs={"dropout": jax.random.key(seed)})
        out = out[0] if isinstance(out, tuple) else out
        return np.asarray(out)

    @x64
    def intermediates(self, model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
        _, state = model.module.apply({"params": model.params}, np.asarray(x), mutable=["intermediates"])
        return {".".join(path): np.asarray(values[0])
                for path, values in flat_tree(state.get("intermediates", {})).items()}

    @x64
    def loss(self, model: Model, x: np.ndarray, y: np.ndarray) -> float:
        return float(model.module.apply({"params": model.params}, np.asarray(x), np.asarray(y))[1])

    def param_count(self, model: Model, prefix: str = "") -> int:
        return sum(int(v.size) for k, v in flax_to_torch(model.params).items() if k.startswith(prefix))

    @x64
    def train(self, model: Model, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
              max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False) -> History:
        model.params, history = fast.train(model.module, model.params, cfg, sampler, evals, max_iters,
                                           eval_interval, progress, desc="flax")  # dropout: fast.dropout_key
        return history

    @x64
    def train_parallel(self, model: Model, cfg: Config, sampler: BatchSampler, world: World,
                       evals: dict | None = None, max_iters: int | None = None, eval_interval: int | None = None,
                       shard_params: bool = False, progress: bool = False, devices: int | None = None,
                       device: str = "cpu") -> tuple[History, dict]:
        mesh = parallel.make_mesh(world, device, devices)
        state, history = parallel.train(model.module, model.params, cfg, sampler, world, evals, max_iters,
                                        eval_interval, mesh, shard_params, progress, desc="flax",
                                        make_step=fast.make_step)  # the single-device trainer's step
        held = {**parallel.held(state), "total": self.param_count(model)}
        model.params = parallel.gather(state[0], mesh)
        return history, held

    def get_weights(self, model: Model) -> dict[str, np.ndarray]:
        return flax_to_torch(model.params)

    def set_weights(self, model: Model, weights: dict[str, np.ndarray]) -> None:
        model.params = torch_to_flax(weights, model.params)

    @x64
    def generate(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
                 temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
        out = model.module.apply({"params": model.params}, np.asarray(idx), max_new_tokens, greedy, temperature,
                                 top_k, method="generate", rngs={"sample": jax.random.key(seed)})
        return np.asarray(out)

    def _next_token(self, model: Model, greedy: bool, temperature: float, top_k: int | None):
        module = model.module

        @jax.jit
        def next_token(params, window, last, key):  # window (B, block), last: index of the last real token
            logits, _ = module.apply({"params": params}, window)  # (B, block, V)
            logits = jnp.take(logits, last, axis=1)  # (B, V)
            if greedy:
                return logits.argmax(axis=-1)  # (B,)
            logits = module.apply({"params": params}, logits, temperature, top_k, method="sampling_logits")
            return jax.random.categorical(key, logits, axis=-1)  # (B,)

        return functools.partial(next_token, model.params)

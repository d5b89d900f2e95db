"""The Flax side of the surface the floors above use (learngpt/runtime.py): numpy in, numpy out."""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

import learngpt_flax
from learngpt import checks, sampling
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.errors import UserError
from learngpt.parallel import World
from learngpt.runtime import Model
from learngpt.training import History
from learngpt_flax import fast, parallel
from parity.bridge import abstract_params, flat_tree, flax_to_torch, torch_to_flax


@contextlib.contextmanager
def device_scope(device: str) -> Iterator[None]:
    try:
        found = jax.local_devices(backend=device)  # this process's (a multi-process run sees all)
    except RuntimeError:
        import os
        told = os.environ.get("JAX_PLATFORMS")
        if told:  # the environment, not a flag, ruled the device out
            raise UserError(f"JAX sees no {device} device: JAX_PLATFORMS is {told!r} (the platforms JAX may "
                            f"use); unset it or name {device} in it") from None
        raise UserError(f"--device {device}: JAX sees no {device} device") from None
    with jax.default_device(found[0]):
        yield


def _x64(fn: Callable) -> Callable:
    """fn(model, ...) with JAX's 64-bit mode on when the model computes in float64."""
    @functools.wraps(fn)
    def wrapper(model: Model, *args, **kwargs):
        with jax.enable_x64(model.dtype == "float64"):
            return fn(model, *args, **kwargs)
    return wrapper


def _cast(tree, dtype: str):
    return jax.tree_util.tree_map(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a, tree)


def create(recipe: Callable[[Any], Any], example: np.ndarray | None = None, seed: int = 0,
           weights: dict | None = None, dtype: str = "float32") -> Model:
    module = recipe(learngpt_flax)
    with jax.enable_x64(dtype == "float64"):
        if weights is not None:  # the params' shapes only (no init computed: op by op it takes seconds)
            params = torch_to_flax(weights, abstract_params(module, np.asarray(example)))
        else:  # drawn natively (the same distributions as torch's defaults); {} for a module without any
            params = module.init({"params": jax.random.key(seed)}, np.asarray(example)).get("params", {})
        return Model(module, _cast(params, dtype), dtype)


@_x64
def forward(model: Model, x: np.ndarray, train: bool = False, seed: int = 0) -> np.ndarray:
    out = model.module.apply({"params": model.params}, np.asarray(x), deterministic=not train,
                             rngs={"dropout": jax.random.key(seed)})
    out = out[0] if isinstance(out, tuple) else out
    return np.asarray(out)


@_x64
def intermediates(model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
    _, state = model.module.apply({"params": model.params}, np.asarray(x), mutable=["intermediates"])
    return {".".join(path): np.asarray(values[0])
            for path, values in flat_tree(state.get("intermediates", {})).items()}


@_x64
def loss(model: Model, x: np.ndarray, y: np.ndarray) -> float:
    return float(model.module.apply({"params": model.params}, np.asarray(x), np.asarray(y))[1])


def param_count(model: Model, prefix: str = "") -> int:
    return sum(int(v.size) for k, v in flax_to_torch(model.params).items() if k.startswith(prefix))


@_x64
def train(model: Model, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False) -> History:
    model.params, history = fast.train(model.module, model.params, cfg, sampler, evals, max_iters,
                                       eval_interval, progress, desc="flax")  # dropout: fast.dropout_key
    return history


@_x64
def train_parallel(model: Model, cfg: Config, sampler: BatchSampler, world: World, evals: dict | None = None,
                   max_iters: int | None = None, eval_interval: int | None = None, shard_params: bool = False,
                   progress: bool = False, devices: int | None = None,
                   device: str = "cpu") -> tuple[History, dict]:
    mesh = parallel.make_mesh(world, device, devices)
    state, history = parallel.train(model.module, model.params, cfg, sampler, world, evals, max_iters,
                                    eval_interval, mesh, shard_params, progress, desc="flax",
                                    make_step=fast.make_step)  # the single-device trainer's step
    held = {**parallel.held(state), "total": param_count(model)}
    model.params = parallel.gather(state[0], mesh)
    return history, held


def dropout_masks(shape: tuple, rate: float, seed: int, world: World,
                  device: str = "cpu") -> list[np.ndarray]:
    return parallel.dropout_masks(shape, rate, seed, parallel.make_mesh(world, device))


def get_weights(model: Model) -> dict[str, np.ndarray]:
    return flax_to_torch(model.params)


def set_weights(model: Model, weights: dict[str, np.ndarray]) -> None:
    model.params = torch_to_flax(weights, model.params)


@_x64
def generate(model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
             temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    out = model.module.apply({"params": model.params}, np.asarray(idx), max_new_tokens, greedy, temperature,
                             top_k, method="generate", rngs={"sample": jax.random.key(seed)})
    return np.asarray(out)


@_x64
def complete(model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
             temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    """generate with one compiled forward pass: the context is right-padded to block_size and the logits
    read at its last real position (causal attention: the padding cannot reach it). Sampling draws from
    jax.random.key(seed), split once per token."""
    module, block = model.module, model.module.block_size
    idx = np.asarray(idx)  # checked on the host: under jit a bad id would read a NaN row
    checks.check_host_ids(module.vocab_size, idx)
    checks.check_new_tokens(max_new_tokens)
    sampling.check(temperature, top_k, module.vocab_size)

    @jax.jit
    def next_token(params, window, last, key):  # window (B, block), last: index of the last real token
        logits, _ = module.apply({"params": params}, window)  # (B, block, V)
        logits = jnp.take(logits, last, axis=1)  # (B, V)
        if greedy:
            return logits.argmax(axis=-1)  # (B,)
        logits = module.apply({"params": params}, logits, temperature, top_k, method="sampling_logits")
        return jax.random.categorical(key, logits, axis=-1)  # (B,)

    key = jax.random.key(seed)
    for _ in range(max_new_tokens):
        cond = idx[:, -block:]  # (B, T'), T' <= block
        window = np.zeros((idx.shape[0], block), dtype=np.int32)
        window[:, :cond.shape[1]] = cond
        key, sub = jax.random.split(key)
        nxt = np.asarray(next_token(model.params, window, cond.shape[1] - 1, sub))  # (B,)
        idx = np.concatenate([idx, nxt[:, None].astype(idx.dtype)], axis=1)  # (B, T + 1)
    return idx

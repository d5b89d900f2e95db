"""The Flax NNX side of the surface the floors above use (learngpt/runtime.py): numpy in, numpy out."""
from __future__ import annotations

import contextlib
import functools
import inspect
from types import ModuleType
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import learngpt_nnx
from learngpt import checks, sampling
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.errors import UserError
from learngpt.parallel import World
from learngpt.runtime import Model
from learngpt.training import History
from learngpt_nnx import fast, parallel
from parity.nnx import nnx_to_torch, torch_to_nnx


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


class Seeded:
    """A backend package whose constructors draw from one nnx.Rngs: what a recipe(lib) written for torch and
    linen (no rngs argument) needs in NNX, where a module initialises its parameters as it is built
    (learngpt_lab.backends.Backend.lib gives one too: its rngs seeded 0)."""

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


def _build(recipe: Callable[[Any], Any], seed: int = 0) -> nnx.Module:
    """recipe(learngpt_nnx) built, parameters drawn from nnx.Rngs(params=seed) and every Dropout's stream
    forked from nnx.Rngs(dropout=seed)."""
    return recipe(Seeded(learngpt_nnx, nnx.Rngs(params=seed, dropout=seed)))


def _cast(module: nnx.Module, dtype: str) -> None:
    """The module's floating-point parameters in dtype, in place."""
    params = nnx.state(module, nnx.Param)
    cast = jax.tree_util.tree_map(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a, params)
    nnx.update(module, cast)


def create(recipe: Callable[[Any], Any], example: np.ndarray | None = None, seed: int = 0,
           weights: dict | None = None, dtype: str = "float32") -> Model:
    with jax.enable_x64(dtype == "float64"):
        if weights is not None:  # the structure only (no init computed: op by op it takes seconds)
            module = nnx.eval_shape(lambda: _build(recipe, seed))
            torch_to_nnx(weights, module)  # every parameter set (WeightMismatchError before any is)
            nnx.reseed(module, dropout=seed)  # the dropout streams' keys and counts, concrete
        else:  # drawn natively (the same distributions as torch's defaults)
            module = _build(recipe, seed)
        _cast(module, dtype)
        return Model(module, None, dtype)  # the parameters live in the module, as in torch


def _mode(model: Model, train: bool, seed: int = 0) -> nnx.Module:
    """The module in train (dropout on, its streams reseeded from seed) or eval mode."""
    if train:
        model.module.train()
        nnx.reseed(model.module, dropout=seed)
    else:
        model.module.eval()
    return model.module


@_x64
def forward(model: Model, x: np.ndarray, train: bool = False, seed: int = 0) -> np.ndarray:
    out = _mode(model, train, seed)(np.asarray(x))
    out = out[0] if isinstance(out, tuple) else out
    return np.asarray(out)


@_x64
def intermediates(model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
    _mode(model, False)(np.asarray(x))
    return {".".join(str(p) for p in path): np.asarray(v.get_value())
            for path, v in nnx.to_flat_state(nnx.state(model.module, nnx.Intermediate))}


@_x64
def loss(model: Model, x: np.ndarray, y: np.ndarray) -> float:
    return float(_mode(model, False)(np.asarray(x), np.asarray(y))[1])


def param_count(model: Model, prefix: str = "") -> int:
    return sum(int(v.size) for k, v in get_weights(model).items() if k.startswith(prefix))


@_x64
def train(model: Model, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False) -> History:
    return fast.train(model.module, cfg, sampler, evals, max_iters, eval_interval, progress,
                      desc="nnx")  # in place; dropout: fast.dropout_key


@_x64
def train_parallel(model: Model, cfg: Config, sampler: BatchSampler, world: World, evals: dict | None = None,
                   max_iters: int | None = None, eval_interval: int | None = None, shard_params: bool = False,
                   progress: bool = False, devices: int | None = None,
                   device: str = "cpu") -> tuple[History, dict]:
    mesh = parallel.make_mesh(world, device, devices)
    state, history = parallel.train(model.module, cfg, sampler, world, evals, max_iters, eval_interval, mesh,
                                    shard_params, progress, desc="nnx",
                                    make_step=fast.make_step)  # the single-device trainer's step
    held = {**parallel.held(state), "total": param_count(model)}
    parallel.gather_into(model.module, state, mesh)
    return history, held


def dropout_masks(shape: tuple, rate: float, seed: int, world: World,
                  device: str = "cpu") -> list[np.ndarray]:
    return parallel.dropout_masks(shape, rate, seed, parallel.make_mesh(world, device))


@_x64
def get_weights(model: Model) -> dict[str, np.ndarray]:
    return nnx_to_torch(model.module)


@_x64
def set_weights(model: Model, weights: dict[str, np.ndarray]) -> None:
    torch_to_nnx(weights, model.module)


@_x64
def generate(model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
             temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    out = _mode(model, False).generate(np.asarray(idx), max_new_tokens, greedy, temperature, top_k,
                                       rngs=nnx.Rngs(sample=seed))
    return np.asarray(out)


@_x64
def complete(model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
             temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    """generate with one compiled forward pass: the context is right-padded to block_size and the logits
    read at its last real position (causal attention: the padding cannot reach it). Sampling draws from
    jax.random.key(seed), split once per token."""
    module = _mode(model, False)
    block = module.block_size
    idx = np.asarray(idx)  # checked on the host: under jit a bad id would read a NaN row
    checks.check_host_ids(module.vocab_size, idx)
    checks.check_new_tokens(max_new_tokens)
    sampling.check(temperature, top_k, module.vocab_size)
    graphdef, state = nnx.split(module)

    @jax.jit
    def next_token(state, window, last, key):  # window (B, block), last: index of the last real token
        model = nnx.merge(graphdef, state)  # rebuilt inside the trace: its attributes may be set there
        logits, _ = model(window)  # (B, block, V)
        logits = jnp.take(logits, last, axis=1)  # (B, V)
        if greedy:
            return logits.argmax(axis=-1)  # (B,)
        logits = model.sampling_logits(logits, temperature, top_k)
        return jax.random.categorical(key, logits, axis=-1)  # (B,)

    key = jax.random.key(seed)
    for _ in range(max_new_tokens):
        cond = idx[:, -block:]  # (B, T'), T' <= block
        window = np.zeros((idx.shape[0], block), dtype=np.int32)
        window[:, :cond.shape[1]] = cond
        key, sub = jax.random.split(key)
        nxt = np.asarray(next_token(state, window, cond.shape[1] - 1, sub))  # (B,)
        idx = np.concatenate([idx, nxt[:, None].astype(idx.dtype)], axis=1)  # (B, T + 1)
    return idx

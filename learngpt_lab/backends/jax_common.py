"""What the two Flax adapters (linen: flax_backend.py, NNX: nnx_backend.py) share: JAX's device scope, its
64-bit mode per model, the float cast of a pytree, a param tree's shapes, the timed forward, the data-parallel
dropout masks and the fast decoding loop."""
from __future__ import annotations

import contextlib
import functools
import os
import time
from types import ModuleType
from typing import Any, Callable, Hashable, Iterator

import jax
import numpy as np

from learngpt import checks, sampling
from learngpt.errors import UserError
from learngpt.parallel import World
from learngpt_lab.backends.protocol import Model


def x64(method: Callable) -> Callable:
    """method(self, model, ...) with JAX's 64-bit mode on when the model computes in float64."""
    @functools.wraps(method)
    def wrapper(self, model: Model, *args, **kwargs):
        with jax.enable_x64(model.dtype == "float64"):
            return method(self, model, *args, **kwargs)
    return wrapper


def cast(tree, dtype: str):
    """The tree's floating-point leaves in dtype (the rest as they are)."""
    return jax.tree_util.tree_map(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a, tree)


def shapes(tree, prefix: str = "") -> dict[str, tuple]:
    """{path: shape} of a nested param tree (dicts or NNX States), the path's keys joined by '/'."""
    out = {}
    for k, v in tree.items():
        path = f"{prefix}/{k}" if prefix else str(k)
        if hasattr(v, "items"):
            out.update(shapes(v, path))
        else:
            out[path] = tuple(np.shape(v))
    return out


_PROGRAMS: dict[tuple, Callable] = {}  # timed_forward's jitted forwards by structure and input: compiled once


class JaxAdapter:
    """The base of a Flax adapter: `parallel` is its lesson package's parallel.py, `_next_token` the one compiled
    forward pass its `complete` repeats."""
    parallel: ModuleType

    @contextlib.contextmanager
    def device_scope(self, device: str) -> Iterator[None]:
        try:
            found = jax.local_devices(backend=device)  # this process's (a multi-process run sees all)
        except RuntimeError:
            told = os.environ.get("JAX_PLATFORMS")
            if told:  # the environment, not a flag, ruled the device out
                raise UserError(f"JAX sees no {device} device: JAX_PLATFORMS is {told!r} (the platforms JAX may "
                                f"use); unset it or name {device} in it") from None
            raise UserError(f"--device {device}: JAX sees no {device} device") from None
        with jax.default_device(found[0]):
            yield

    def _pure(self, model: Model) -> tuple[Callable, Any, Hashable]:
        """(fn, params, structure): the model's forward as fn(params, x), its params, and what tells its
        compiled program from another's (a module of the same structure compiles to the same program)."""
        raise NotImplementedError

    def timed_forward(self, model: Model, x: np.ndarray, calls: int, jit: bool) -> float:
        fn, params, structure = self._pure(model)
        if jit:
            fn = _PROGRAMS.setdefault((structure, np.shape(x), str(x.dtype), model.dtype), jax.jit(fn))
        with jax.enable_x64(model.dtype == "float64"):
            jx = jax.numpy.asarray(x)
            jax.block_until_ready(fn(params, jx))  # warm-up (and compile)
            t0 = time.perf_counter()
            for _ in range(calls):
                out = fn(params, jx)
            jax.block_until_ready(out)
            return time.perf_counter() - t0

    def dropout_masks(self, shape: tuple, rate: float, seed: int, world: World,
                      device: str = "cpu") -> list[np.ndarray]:
        return self.parallel.dropout_masks(shape, rate, seed, self.parallel.make_mesh(world, device))

    def _next_token(self, model: Model, greedy: bool, temperature: float,
                    top_k: int | None) -> Callable[[np.ndarray, int, jax.Array], jax.Array]:
        """(window (B, block), last, key) -> the next ids (B,): the model's logits at position last of the
        window, argmax (greedy) or drawn from key as learngpt/sampling.py says; one jitted program."""
        raise NotImplementedError

    @x64
    def complete(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
                 temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
        """generate with one compiled forward pass: the context is right-padded to block_size and the logits
        read at its last real position (causal attention: the padding cannot reach it). Sampling draws from
        jax.random.key(seed), split once per token."""
        next_token = self._next_token(model, greedy, temperature, top_k)  # compiled on its first call
        module = model.module
        block = module.block_size
        idx = np.asarray(idx)  # checked on the host: under jit a bad id would read a NaN row
        checks.check_host_ids(module.vocab_size, idx)
        checks.check_new_tokens(max_new_tokens)
        sampling.check(temperature, top_k, module.vocab_size)
        key = jax.random.key(seed)
        for _ in range(max_new_tokens):
            cond = idx[:, -block:]  # (B, T'), T' <= block
            window = np.zeros((idx.shape[0], block), dtype=np.int32)
            window[:, :cond.shape[1]] = cond
            key, sub = jax.random.split(key)
            nxt = np.asarray(next_token(window, cond.shape[1] - 1, sub))  # (B,)
            idx = np.concatenate([idx, nxt[:, None].astype(idx.dtype)], axis=1)  # (B, T + 1)
        return idx

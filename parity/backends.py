"""One small adapter per backend, so that a question is written once and asked of both.

A test or command holds a `Backend` and a `Model` handle and sees numpy arrays only:

    model = backend.create(lambda lib: lib.MultiHeadVer2(8, 16, 4), example=x, seed=0)
    y = backend.forward(model, x)                 # numpy in, numpy out
    history = backend.train(model, cfg, sampler)  # the backend's own trainer

`lib` is the backend package (learngpt_torch or learngpt_flax): the same recipe builds either twin.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import History

NAMES = ("torch", "flax")
ENV_VAR = "LEARNGPT_BACKEND"  # narrows the tests and commands to one backend: torch or flax


@dataclass
class Model:
    """A built and initialised model: the module, and for Flax its params (torch keeps them inside)."""
    backend: "Backend"
    module: Any
    params: Any = None
    compiled: dict = field(default_factory=dict)  # Flax: jitted functions kept for the model's lifetime


class Backend:
    """What a question needs of a framework; subclasses implement it for torch and Flax."""
    name: str
    lib: Any

    def __repr__(self) -> str:
        return self.name

    def create(self, recipe: Callable[[Any], Any], example: np.ndarray, seed: int = 0) -> Model:
        raise NotImplementedError

    def forward(self, model: Model, x: np.ndarray, train: bool = False, seed: int = 0) -> np.ndarray: ...
    def intermediates(self, model: Model, x: np.ndarray) -> dict[str, np.ndarray]: ...
    def loss(self, model: Model, x: np.ndarray, y: np.ndarray) -> float: ...
    def param_count(self, model: Model, prefix: str = "") -> int: ...
    def train(self, model: Model, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
              max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False) -> History: ...
    def weights(self, model: Model) -> dict[str, np.ndarray]: ...
    def load_weights(self, model: Model, weights: dict[str, np.ndarray]) -> None: ...
    def generate(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0) -> np.ndarray: ...
    def timed_forward(self, model: Model, x: np.ndarray, calls: int, jit: bool = True) -> float: ...
    def decode(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0) -> np.ndarray:
        """Like generate, but as fast as the backend allows (for commands); reproducible for a seed."""
        return self.generate(model, idx, max_new_tokens, greedy, seed)
    # x through n fresh copies of the layers recipe(lib) returns, each copy its own init, in turn; no gradient kept
    def chain(self, recipe: Callable[[Any], list], x: np.ndarray, n: int, seed: int = 0) -> np.ndarray: ...
    compiles: bool = False  # whether timed_forward(jit=True) times a compiled program (else op by op)


class TorchBackend(Backend):
    name = "torch"

    def __init__(self):
        import learngpt_torch
        self.lib = learngpt_torch

    def create(self, recipe, example=None, seed=0):
        import torch
        torch.manual_seed(seed)  # torch initialises while it builds
        return Model(self, recipe(self.lib))

    def _tensor(self, x):
        import torch
        return torch.as_tensor(np.asarray(x))

    def forward(self, model, x, train=False, seed=0):
        import torch
        torch.manual_seed(seed)
        model.module.train(train)
        with torch.no_grad():
            out = model.module(self._tensor(x))
        out = out[0] if isinstance(out, tuple) else out
        return out.numpy()

    def intermediates(self, model, x):
        self.forward(model, x)
        found = {}
        for name, sub in model.module.named_modules():
            for attr in ("attentions", "var"):
                if hasattr(sub, attr):
                    found[f"{name}.{attr}" if name else attr] = getattr(sub, attr).detach().numpy()
        return found

    def loss(self, model, x, y):
        import torch
        model.module.eval()
        with torch.no_grad():
            return float(model.module(self._tensor(x), self._tensor(y))[1])

    def param_count(self, model, prefix=""):
        return sum(p.numel() for n, p in model.module.named_parameters() if n.startswith(prefix))

    def train(self, model, cfg, sampler, evals=None, max_iters=None, eval_interval=None, progress=False):
        from learngpt_torch.trainer import train
        return train(model.module, cfg, sampler, evals, max_iters, eval_interval, progress, desc="torch")

    def weights(self, model):
        from parity.bridge import torch_state
        return torch_state(model.module)

    def load_weights(self, model, weights):
        from parity.bridge import load_into_torch
        load_into_torch(model.module, weights)

    def generate(self, model, idx, max_new_tokens, greedy=False, seed=0):
        import torch
        model.module.eval()
        generator = torch.Generator().manual_seed(seed)
        return model.module.generate(self._tensor(idx), max_new_tokens, greedy=greedy, generator=generator).numpy()

    def timed_forward(self, model, x, calls, jit=True):
        """Seconds for `calls` forward passes (eager; torch has no jit here)."""
        import torch
        model.module.eval()
        tx = self._tensor(x)
        with torch.no_grad():
            model.module(tx)  # warm-up
            t0 = time.perf_counter()
            for _ in range(calls):
                model.module(tx)
            return time.perf_counter() - t0

    def chain(self, recipe, x, n, seed=0):
        import torch
        torch.manual_seed(seed)
        out = self._tensor(x)
        with torch.no_grad():
            for _ in range(n):
                for layer in recipe(self.lib):
                    out = layer(out)
        return out.numpy()


class FlaxBackend(Backend):
    name = "flax"
    compiles = True

    def __init__(self):
        import learngpt_flax
        self.lib = learngpt_flax

    def create(self, recipe, example, seed=0):
        import jax
        module = recipe(self.lib)
        params = module.init({"params": jax.random.key(seed)}, np.asarray(example)).get("params", {})  # {}: no params (HeadVer1-3)
        return Model(self, module, params)

    def forward(self, model, x, train=False, seed=0):
        import jax
        out = model.module.apply({"params": model.params}, np.asarray(x), deterministic=not train,
                                 rngs={"dropout": jax.random.key(seed)})
        out = out[0] if isinstance(out, tuple) else out
        return np.asarray(out)

    def intermediates(self, model, x):
        _, state = model.module.apply({"params": model.params}, np.asarray(x), mutable=["intermediates"])
        found = {}

        def walk(tree, prefix):
            for name, value in tree.items():
                path = f"{prefix}.{name}" if prefix else name
                if isinstance(value, dict):
                    walk(value, path)
                else:
                    found[path] = np.asarray(value[0])
        walk(state.get("intermediates", {}), "")
        return found

    def loss(self, model, x, y):
        return float(model.module.apply({"params": model.params}, np.asarray(x), np.asarray(y))[1])

    def param_count(self, model, prefix=""):
        from parity.bridge import flax_to_torch
        return sum(int(v.size) for k, v in flax_to_torch(model.params).items() if k.startswith(prefix))

    def train(self, model, cfg, sampler, evals=None, max_iters=None, eval_interval=None, progress=False):
        import jax
        from learngpt_flax.trainer import train
        model.params, history = train(model.module, model.params, cfg, sampler, evals, max_iters, eval_interval,
                                      progress, key=jax.random.key(cfg.seed), desc="flax")
        return history

    def weights(self, model):
        from parity.bridge import flax_to_torch
        return flax_to_torch(model.params)

    def load_weights(self, model, weights):
        from parity.bridge import torch_to_flax
        model.params = torch_to_flax(weights, model.params)

    def generate(self, model, idx, max_new_tokens, greedy=False, seed=0):
        import jax
        out = model.module.apply({"params": model.params}, np.asarray(idx), max_new_tokens, greedy,
                                 method="generate", rngs={"sample": jax.random.key(seed)})
        return np.asarray(out)

    def decode(self, model, idx, max_new_tokens, greedy=False, seed=0):
        """generate with one compiled forward pass: the context is right-padded to block_size and the logits
        read at its last real position (causal attention: the padding cannot reach it). Sampling draws
        from jax.random.key(seed), split once per token."""
        import jax
        import jax.numpy as jnp

        block = model.module.block_size
        module = model.module

        @jax.jit
        def next_token(params, window, last, key):  # window (B, block), last: index of the last real token
            logits, _ = module.apply({"params": params}, window)  # (B, block, V)
            logits = jnp.take(logits, last, axis=1)  # (B, V)
            return logits.argmax(axis=-1) if greedy else jax.random.categorical(key, logits, axis=-1)  # (B,)

        idx = np.asarray(idx)
        key = jax.random.key(seed)
        for _ in range(max_new_tokens):
            cond = idx[:, -block:]  # (B, T'), T' <= block
            window = np.zeros((idx.shape[0], block), dtype=np.int32)
            window[:, :cond.shape[1]] = cond
            key, sub = jax.random.split(key)
            nxt = np.asarray(next_token(model.params, window, cond.shape[1] - 1, sub))  # (B,)
            idx = np.concatenate([idx, nxt[:, None].astype(idx.dtype)], axis=1)  # (B, T + 1)
        return idx

    def timed_forward(self, model, x, calls, jit=True):
        """Seconds for `calls` forward passes: jitted (compiled before the clock starts) or op by op."""
        import jax
        fn = lambda p, inp: model.module.apply({"params": p}, inp)  # noqa: E731
        if jit:  # compiled once per model: repeated timings measure the program, not its compilation
            fn = model.compiled.setdefault("forward", jax.jit(fn))
        jx = jax.numpy.asarray(x)
        jax.block_until_ready(fn(model.params, jx))  # warm-up (and compile)
        t0 = time.perf_counter()
        for _ in range(calls):
            out = fn(model.params, jx)
        jax.block_until_ready(out)
        return time.perf_counter() - t0

    def chain(self, recipe, x, n, seed=0):
        """n sets of params drawn at once (vmap over keys), then the layers applied in turn in one lax.scan."""
        import jax
        layers = recipe(self.lib)
        jx = jax.numpy.asarray(x)

        @jax.jit
        def run(keys):
            params = [jax.vmap(lambda k, m=m: m.init(k, jx)["params"])(keys[:, i]) for i, m in enumerate(layers)]

            def step(h, ps):
                for m, p in zip(layers, ps):
                    h = m.apply({"params": p}, h)
                return h, None
            return jax.lax.scan(step, jx, params)[0]
        keys = jax.random.split(jax.random.key(seed), (n, len(layers)))
        return np.asarray(run(keys))


def get(name: str) -> Backend:
    if name == "torch":
        return TorchBackend()
    if name == "flax":
        return FlaxBackend()
    raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(NAMES)}")


def selected(requested: str | None = None) -> tuple[str, ...]:
    """The backends to run: an explicit choice, else $LEARNGPT_BACKEND, else both."""
    value = requested or os.environ.get(ENV_VAR) or ""
    if not value or value == "both":
        return NAMES
    names = tuple(v.strip() for v in value.split(","))
    for n in names:
        if n not in NAMES:
            raise ValueError(f"unknown backend {n!r}; expected one of {', '.join(NAMES)}")
    return names

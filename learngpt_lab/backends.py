"""One small adapter per backend, so that a question, a test or a command is written once and run on both.

A caller holds a `Backend` and a `Model` handle and sees numpy arrays only:

    backend = backends.get("flax", dtype="float64")
    model = backend.create(lambda lib: lib.MultiHeadVer2(8, 16, 4), example=x, seed=0)
    y = backend.forward(model, x)                 # numpy in, numpy out
    history = backend.train(model, cfg, sampler)  # the backend's own trainer

`lib` is the backend package (learngpt_torch or learngpt_flax): the same recipe builds either twin. The dtype
(float32 or float64) is the backend's: torch casts the module, Flax casts its params and runs under x64.
"""
from __future__ import annotations

import abc
import contextlib
import functools
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from learngpt import checks
from learngpt.components import NANOGPT, Architecture
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.errors import UserError
from learngpt.training import History
from parity import checkpoint as checkpoints

NAMES = ("torch", "flax")
DTYPES = ("float32", "float64")
DEVICES = ("cpu", "gpu")
ENV_VAR = "LEARNGPT_BACKEND"  # narrows the tests and commands to one backend: torch or flax


@dataclass
class Model:
    """A built and initialised model: the module, and for Flax its params (torch keeps them inside)."""
    backend: "Backend"
    module: Any
    params: Any = None


class Backend(abc.ABC):
    """What the questions, tests and commands need of a framework."""
    name: str
    compiles: bool  # whether timed_forward(jit=True) times a compiled program (else op by op)

    def __init__(self, dtype: str = "float32"):
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
        self.dtype = dtype
        self.device_kind = "cpu"

    def __repr__(self) -> str:
        return self.name if self.dtype == "float32" else f"{self.name}[{self.dtype}]"

    @property
    @abc.abstractmethod
    def lib(self) -> Any:
        """The backend package: learngpt_torch or learngpt_flax."""

    @contextlib.contextmanager
    def on(self, device: str) -> Iterator[None]:
        """Within the block, models are created and run on device (cpu or gpu); a clear error if it is absent."""
        check_device(device)
        before, self.device_kind = self.device_kind, device
        try:
            with self._device_scope(device):
                yield
        finally:
            self.device_kind = before

    @abc.abstractmethod
    def _device_scope(self, device: str) -> contextlib.AbstractContextManager: ...

    @abc.abstractmethod
    def create(self, recipe: Callable[[Any], Any], example: np.ndarray | None = None, seed: int = 0,
               weights: dict | None = None) -> Model:
        """recipe(lib) built and initialised from seed (Flax traces example to shape its params); with
        weights (torch layout), built holding those instead (Flax computes no init then, only shapes)."""

    @abc.abstractmethod
    def forward(self, model: Model, x: np.ndarray, train: bool = False, seed: int = 0) -> np.ndarray:
        """The output (a GPT's logits); train=True turns dropout on, drawing from seed."""

    @abc.abstractmethod
    def intermediates(self, model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
        """What the modules expose on the way (attention weights, score variance), by dotted module path."""

    @abc.abstractmethod
    def loss(self, model: Model, x: np.ndarray, y: np.ndarray) -> float:
        """A language model's mean cross-entropy on (x, y), dropout off."""

    @abc.abstractmethod
    def param_count(self, model: Model, prefix: str = "") -> int:
        """Trainable numbers under the torch-layout key prefix."""

    @abc.abstractmethod
    def train(self, model: Model, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
              max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False) -> History:
        """The backend's own trainer, in place: AdamW steps on sampler's batches, evaluations between chunks."""

    @abc.abstractmethod
    def get_weights(self, model: Model) -> dict[str, np.ndarray]:
        """The weights as numpy arrays in the torch layout (state_dict keys)."""

    @abc.abstractmethod
    def set_weights(self, model: Model, weights: dict[str, np.ndarray]) -> None:
        """Load torch-layout weights, all or nothing (WeightMismatchError names every bad key)."""

    @abc.abstractmethod
    def generate(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False,
                 seed: int = 0) -> np.ndarray:
        """The module's own generate: idx (B, T0) extended by max_new_tokens ids."""

    def complete(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False,
                 seed: int = 0) -> np.ndarray:
        """Like generate, as fast as the backend allows (what the commands use); reproducible for a seed."""
        return self.generate(model, idx, max_new_tokens, greedy, seed)

    @abc.abstractmethod
    def timed_forward(self, model: Model, x: np.ndarray, calls: int, jit: bool = True) -> float:
        """Seconds for `calls` forward passes after one untimed call (compiled first when jit and compiling)."""

    @abc.abstractmethod
    def chain(self, recipe: Callable[[Any], list], x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
        """x through n fresh copies of the layers recipe(lib) returns, each copy its own init; no gradient."""

    # Data parallel (learngpt_lab/parallel.py starts the processes; these run in each of them)
    @abc.abstractmethod
    def join(self, world, device: str = "cpu", timeout_s: float = 120.0) -> None:
        """Join a multi-process run described by world (learngpt.parallel.World), before any other work."""

    @abc.abstractmethod
    def leave(self) -> None:
        """Leave the multi-process run joined with join()."""

    @abc.abstractmethod
    def train_parallel(self, model: Model, cfg: Config, sampler: BatchSampler, world, evals: dict | None = None,
                       max_iters: int | None = None, eval_interval: int | None = None,
                       shard_params: bool = False, progress: bool = False,
                       devices: int | None = None) -> tuple[History, dict]:
        """The backend's data-parallel trainer (learngpt_*/parallel.py) over world's processes (and, Flax,
        `devices` devices of each, else all), on the global batches; afterwards the model holds the whole
        trained weights on this process, as a single-device model. Returns the history and what one device
        held at the end ({"params": elements, "adamw": moment elements, "total": the model's parameters})."""

    @abc.abstractmethod
    def dropout_masks(self, shape: tuple, rate: float, seed: int, world) -> list[np.ndarray]:
        """The keep-masks a data-parallel run's dropout draws on a global (B, ...) batch for seed: this
        process's, one (B/N, ...) array per device it holds."""

    def save_checkpoint(self, path: str | os.PathLike, model: Model, cfg: Config, vocab: str,
                        architecture: Architecture = NANOGPT, step: int = 0):
        """A checkpoint file (parity.checkpoint) of this model, in the torch layout either backend reads."""
        return checkpoints.save(path, checkpoints.Checkpoint(self.get_weights(model), cfg, architecture, vocab,
                                                             self.name, step))

    def load_checkpoint(self, path: str | os.PathLike) -> tuple[Model, checkpoints.Checkpoint]:
        """(model, checkpoint): a checkpoint written by either backend, its model rebuilt here."""
        ckpt = checkpoints.load(path)
        cfg = ckpt.config
        model = self.create(ckpt.architecture.recipe(cfg), example=np.zeros((1, cfg.block_size), np.int64),
                            weights=ckpt.weights)  # WeightMismatchError before anything is loaded
        return model, ckpt


class TorchBackend(Backend):
    name = "torch"
    compiles = False

    @property
    def lib(self):
        import learngpt_torch
        return learngpt_torch

    @contextlib.contextmanager
    def _device_scope(self, device):
        if device == "gpu":
            import torch
            if not torch.cuda.is_available():
                raise UserError("--device gpu: torch sees no CUDA device (torch.cuda.is_available() is False)")
        yield

    def _device(self):
        import torch
        return torch.device("cuda" if self.device_kind == "gpu" else "cpu")

    def _tensor(self, model: Model, x) -> Any:
        import torch
        device = next(iter(model.module.parameters()), None)
        return torch.as_tensor(np.asarray(x), device=device.device if device is not None else "cpu")

    def create(self, recipe, example=None, seed=0, weights=None):
        import torch
        torch.manual_seed(seed)  # torch initialises while it builds
        module = recipe(self.lib)
        model = Model(self, module.to(device=self._device(), dtype=getattr(torch, self.dtype)))
        if weights is not None:
            self.set_weights(model, weights)
        return model

    def forward(self, model, x, train=False, seed=0):
        import torch
        torch.manual_seed(seed)
        model.module.train(train)
        with torch.no_grad():
            out = model.module(self._tensor(model, x))
        out = out[0] if isinstance(out, tuple) else out
        return out.cpu().numpy()

    def intermediates(self, model, x):
        import torch
        self.forward(model, x)
        found = {}
        for name, sub in model.module.named_modules():
            # a tensor set as a plain attribute in forward (not a parameter, buffer or submodule) is exposed
            for attr, value in vars(sub).items():
                if isinstance(value, torch.Tensor):
                    found[f"{name}.{attr}" if name else attr] = value.detach().cpu().numpy()
        return found

    def loss(self, model, x, y):
        import torch
        model.module.eval()
        with torch.no_grad():
            return float(model.module(self._tensor(model, x), self._tensor(model, y))[1])

    def param_count(self, model, prefix=""):
        return sum(p.numel() for n, p in model.module.named_parameters() if n.startswith(prefix))

    def train(self, model, cfg, sampler, evals=None, max_iters=None, eval_interval=None, progress=False):
        from learngpt_torch.trainer import train
        return train(model.module, cfg, sampler, evals, max_iters, eval_interval, progress, desc="torch")

    def get_weights(self, model):
        from parity.bridge import torch_state
        return torch_state(model.module)

    def set_weights(self, model, weights):
        from parity.bridge import load_into_torch
        load_into_torch(model.module, weights)

    def generate(self, model, idx, max_new_tokens, greedy=False, seed=0):
        import torch
        model.module.eval()
        tidx = self._tensor(model, idx)
        generator = torch.Generator(device=tidx.device).manual_seed(seed)
        return model.module.generate(tidx, max_new_tokens, greedy=greedy, generator=generator).cpu().numpy()

    def timed_forward(self, model, x, calls, jit=True):
        """Eager: torch has no jit here (learngpt bench measures torch.compile)."""
        import torch
        model.module.eval()
        tx = self._tensor(model, x)
        with torch.no_grad():
            model.module(tx)  # warm-up
            t0 = time.perf_counter()
            for _ in range(calls):
                model.module(tx)
            return time.perf_counter() - t0

    def join(self, world, device="cpu", timeout_s=120.0):
        from learngpt_torch import parallel
        parallel.initialize(world, device, timeout_s)

    def leave(self):
        from learngpt_torch import parallel
        parallel.shutdown()

    def train_parallel(self, model, cfg, sampler, world, evals=None, max_iters=None, eval_interval=None,
                       shard_params=False, progress=False, devices=None):
        import copy

        from learngpt_torch import parallel
        from parity.bridge import load_into_torch
        plain = copy.deepcopy(model.module)  # unsharded: receives the whole weights after training
        state, history = parallel.train(model.module, cfg, sampler, world, evals, max_iters, eval_interval,
                                        shard_params=shard_params, progress=progress, desc="torch")
        held = {**parallel.held(*state), "total": self.param_count(model)}
        load_into_torch(plain, parallel.gather(state[0]))
        model.module = plain
        return history, held

    def dropout_masks(self, shape, rate, seed, world):
        from learngpt_torch import parallel
        return parallel.dropout_masks(shape, rate, seed, world)

    def chain(self, recipe, x, n, seed=0):
        import torch
        torch.manual_seed(seed)
        out = torch.as_tensor(np.asarray(x))
        with torch.no_grad():
            for _ in range(n):
                for layer in recipe(self.lib):
                    out = layer.to(out.dtype)(out)
        return out.numpy()


# Jitted forward passes, by what they depend on (the module's structure, its repr, and the input's shape and dtype):
# a question that times a fresh model of a known structure reuses the compiled program.
_PROGRAMS: dict[tuple, Any] = {}


def _x64(method):
    """Run a FlaxBackend method with JAX's 64-bit mode on when the backend's dtype is float64."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        import jax
        with jax.enable_x64(self.dtype == "float64"):
            return method(self, *args, **kwargs)
    return wrapper


class FlaxBackend(Backend):
    name = "flax"
    compiles = True

    @property
    def lib(self):
        import learngpt_flax
        return learngpt_flax

    @contextlib.contextmanager
    def _device_scope(self, device):
        import jax
        try:
            found = jax.local_devices(backend=device)  # this process's (a multi-process run sees all)
        except RuntimeError:
            raise UserError(f"--device {device}: JAX sees no {device} device") from None
        with jax.default_device(found[0]):
            yield

    def _cast(self, tree):
        import jax
        return jax.tree_util.tree_map(lambda a: a.astype(self.dtype) if a.dtype.kind == "f" else a, tree)

    @_x64
    def create(self, recipe, example=None, seed=0, weights=None):
        from learngpt_flax.trainer import init_params
        module = recipe(self.lib)
        if weights is not None:  # the params' shapes only (no init computed: op by op it takes seconds)
            from parity.bridge import abstract_params, torch_to_flax
            shapes = abstract_params(module, np.asarray(example))
            return Model(self, module, self._cast(torch_to_flax(weights, shapes)))
        return Model(self, module, self._cast(init_params(module, np.asarray(example), seed)))

    @_x64
    def forward(self, model, x, train=False, seed=0):
        import jax
        out = model.module.apply({"params": model.params}, np.asarray(x), deterministic=not train,
                                 rngs={"dropout": jax.random.key(seed)})
        out = out[0] if isinstance(out, tuple) else out
        return np.asarray(out)

    @_x64
    def intermediates(self, model, x):
        from parity.bridge import flat_tree
        _, state = model.module.apply({"params": model.params}, np.asarray(x), mutable=["intermediates"])
        return {".".join(path): np.asarray(values[0])
                for path, values in flat_tree(state.get("intermediates", {})).items()}

    @_x64
    def loss(self, model, x, y):
        return float(model.module.apply({"params": model.params}, np.asarray(x), np.asarray(y))[1])

    def param_count(self, model, prefix=""):
        from parity.bridge import flax_to_torch
        return sum(int(v.size) for k, v in flax_to_torch(model.params).items() if k.startswith(prefix))

    @_x64
    def train(self, model, cfg, sampler, evals=None, max_iters=None, eval_interval=None, progress=False):
        from learngpt_flax import fast
        model.params, history = fast.train(model.module, model.params, cfg, sampler, evals, max_iters,
                                           eval_interval, progress, desc="flax")  # dropout: fast.dropout_key
        return history

    def get_weights(self, model):
        from parity.bridge import flax_to_torch
        return flax_to_torch(model.params)

    def set_weights(self, model, weights):
        from parity.bridge import torch_to_flax
        model.params = torch_to_flax(weights, model.params)

    @_x64
    def generate(self, model, idx, max_new_tokens, greedy=False, seed=0):
        import jax
        out = model.module.apply({"params": model.params}, np.asarray(idx), max_new_tokens, greedy,
                                 method="generate", rngs={"sample": jax.random.key(seed)})
        return np.asarray(out)

    @_x64
    def complete(self, model, idx, max_new_tokens, greedy=False, seed=0):
        """generate with one compiled forward pass: the context is right-padded to block_size and the logits
        read at its last real position (causal attention: the padding cannot reach it). Sampling draws
        from jax.random.key(seed), split once per token."""
        import jax
        import jax.numpy as jnp

        block = model.module.block_size
        module = model.module
        idx = np.asarray(idx)  # checked on the host: under jit a bad id would read a NaN row
        checks.check_token_ids(idx.dtype, module.vocab_size, int(idx.min()), int(idx.max()))

        @jax.jit
        def next_token(params, window, last, key):  # window (B, block), last: index of the last real token
            logits, _ = module.apply({"params": params}, window)  # (B, block, V)
            logits = jnp.take(logits, last, axis=1)  # (B, V)
            return logits.argmax(axis=-1) if greedy else jax.random.categorical(key, logits, axis=-1)  # (B,)

        key = jax.random.key(seed)
        for _ in range(max_new_tokens):
            cond = idx[:, -block:]  # (B, T'), T' <= block
            window = np.zeros((idx.shape[0], block), dtype=np.int32)
            window[:, :cond.shape[1]] = cond
            key, sub = jax.random.split(key)
            nxt = np.asarray(next_token(model.params, window, cond.shape[1] - 1, sub))  # (B,)
            idx = np.concatenate([idx, nxt[:, None].astype(idx.dtype)], axis=1)  # (B, T + 1)
        return idx

    @_x64
    def timed_forward(self, model, x, calls, jit=True):
        """Jitted (compiled once per model, before the clock starts) or op by op."""
        import jax
        module = model.module
        fn = lambda p, inp: module.apply({"params": p}, inp)  # noqa: E731
        if jit:  # one program per module structure and input: repeated timings measure it, not its compilation
            fn = _PROGRAMS.setdefault((repr(module), np.shape(x), str(np.asarray(x).dtype), self.dtype), jax.jit(fn))
        jx = jax.numpy.asarray(x)
        jax.block_until_ready(fn(model.params, jx))  # warm-up (and compile)
        t0 = time.perf_counter()
        for _ in range(calls):
            out = fn(model.params, jx)
        jax.block_until_ready(out)
        return time.perf_counter() - t0

    def join(self, world, device="cpu", timeout_s=120.0):
        from learngpt_flax import parallel
        parallel.initialize(world, device, timeout_s)

    def leave(self):
        from learngpt_flax import parallel
        parallel.shutdown()

    @_x64
    def train_parallel(self, model, cfg, sampler, world, evals=None, max_iters=None, eval_interval=None,
                       shard_params=False, progress=False, devices=None):
        from learngpt_flax import parallel
        mesh = parallel.make_mesh(world, self.device_kind, devices)
        from learngpt_flax import fast
        state, history = parallel.train(model.module, model.params, cfg, sampler, world, evals, max_iters,
                                        eval_interval, mesh, shard_params, progress, desc="flax",
                                        make_step=fast.make_step)  # the single-device trainer's step
        held = {**parallel.held(state), "total": self.param_count(model)}
        model.params = parallel.gather(state[0], mesh)
        return history, held

    @_x64
    def dropout_masks(self, shape, rate, seed, world):
        from learngpt_flax import parallel
        return parallel.dropout_masks(shape, rate, seed, parallel.make_mesh(world, self.device_kind))

    @_x64
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


def get(name: str, dtype: str = "float32") -> Backend:
    if name == "torch":
        return TorchBackend(dtype)
    if name == "flax":
        return FlaxBackend(dtype)
    raise UserError(f"unknown backend {name!r}; expected one of {', '.join(NAMES)}")


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    return device


def selected(requested: str | None = None) -> tuple[str, ...]:
    """The backends to run: an explicit choice, else $LEARNGPT_BACKEND, else both."""
    value = requested or os.environ.get(ENV_VAR) or ""
    if not value or value == "both":
        return NAMES
    names = tuple(v.strip() for v in value.split(","))
    for n in names:
        if n not in NAMES:
            raise UserError(f"unknown backend {n!r}; expected one of {', '.join(NAMES)}")
    return names

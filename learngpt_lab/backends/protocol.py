"""What a backend's adapter is: the operations it implements (`Adapter`, a typing.Protocol) and the `Model` they
pass around.

An adapter (torch_backend.py, flax_backend.py, nnx_backend.py) is a class whose methods are the operations below,
with these parameters in this order: numpy arrays in and out, weights in the torch layout (state_dict keys). The
lab calls them through a `Backend` (backends/__init__.py), which gives create its dtype:

    backend = backends.get("flax", dtype="float64")
    model = backend.create(lambda lib: lib.MultiHeadVer2(8, 16, 4), example=x, seed=0)
    y = backend.forward(model, x)                 # FlaxAdapter.forward: numpy in, numpy out
    history = backend.train(model, cfg, sampler)  # the lesson package's own trainer, in place

Nothing here imports a framework: an adapter's module imports its own, on a backend's first operation.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Protocol

from learngpt.errors import UserError

if TYPE_CHECKING:
    import numpy as np

    from learngpt.config import Config
    from learngpt.data import BatchSampler
    from learngpt.parallel import World
    from learngpt.training import History

DTYPES = ("float32", "float64")
DEVICES = ("cpu", "gpu")


@dataclass
class Model:
    """A built and initialised model: the module, its params (linen's pytree; torch and NNX keep them inside the
    module) and the dtype it computes in."""
    module: Any
    params: Any = None
    dtype: str = "float32"


class Adapter(Protocol):
    """The operations of a backend: one adapter class per backend implements them, one instance of it serves
    every dtype (a model carries its dtype; `create` is told it)."""

    package: str
    """The lesson package a recipe builds from: learngpt_torch, learngpt_flax, learngpt_nnx."""

    @property
    def lib(self) -> Any:
        """What a recipe(lib) receives: the lesson package, or (NNX) a view of it that gives its constructors the
        rngs they need."""
        ...

    def device_scope(self, device: str) -> ContextManager[None]:
        """A context within which models are created and run on device (cpu or gpu); a UserError if the
        framework sees none."""
        ...

    def build(self, recipe: Callable[[Any], Any], seed: int = 0, lib: Any = None) -> Any:
        """recipe(lib) as the framework's bare module, its initialisation drawn from seed: what create starts from
        (not cast, not moved to a device; linen's params not drawn, NNX's inside it). lib stands in for the lesson
        package when given (a view of it: the exercises grader's, the learner's class in place of the
        reference's); NNX's constructors get nnx.Rngs(params=seed, dropout=seed) either way."""
        ...

    def param_shapes(self, module: Any, example: tuple) -> dict[str, tuple]:
        """{name: shape} of what a module from `build` holds, in the framework's own names: torch's state_dict
        keys, linen's and NNX's parameter paths joined by '/' (linen's traced on example, nothing computed)."""
        ...

    def timed_forward(self, model: Model, x: np.ndarray, calls: int, jit: bool) -> float:
        """Seconds for `calls` forward passes of the model on x, after one untimed call (the warm-up, and with
        jit the compilation); jit=True times one compiled program where the backend compiles (BACKENDS'
        `compiles`), else op by op; torch eager, in eval mode, without autograd. Nothing is converted to numpy
        inside the clock."""
        ...

    def create(self, recipe: Callable[[Any], Any], example: np.ndarray | None = None, seed: int = 0,
               weights: dict | None = None, dtype: str = "float32") -> Model:
        """recipe(lib) built and initialised from seed, computing in dtype (linen traces example to shape its
        params); with weights (torch layout), holding those instead (WeightMismatchError names every bad key)."""
        ...

    def forward(self, model: Model, x: np.ndarray, train: bool = False, seed: int = 0) -> np.ndarray:
        """The output (a GPT's logits); train=True turns dropout on, drawn from seed."""
        ...

    def intermediates(self, model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
        """What the modules expose on the way (attention weights, score variance), by dotted module path."""
        ...

    def loss(self, model: Model, x: np.ndarray, y: np.ndarray) -> float:
        """A language model's mean cross-entropy, dropout off."""
        ...

    def param_count(self, model: Model, prefix: str = "") -> int:
        """Trainable numbers under the torch-layout key prefix."""
        ...

    def train(self, model: Model, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
              max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False) -> History:
        """The backend's trainer (through its fast.py), in place: AdamW steps, evaluations between chunks; the
        History."""
        ...

    def train_parallel(self, model: Model, cfg: Config, sampler: BatchSampler, world: World,
                       evals: dict | None = None, max_iters: int | None = None, eval_interval: int | None = None,
                       shard_params: bool = False, progress: bool = False, devices: int | None = None,
                       device: str = "cpu") -> tuple[History, dict]:
        """The data-parallel trainer (the package's parallel.py) over world's processes; afterwards model holds
        the whole trained weights on this process. (History, what one device held)."""
        ...

    def dropout_masks(self, shape: tuple, rate: float, seed: int, world: World,
                      device: str = "cpu") -> list[np.ndarray]:
        """The keep-masks a data-parallel run's dropout draws on a global batch: this process's, one array per
        device it holds."""
        ...

    def get_weights(self, model: Model) -> dict[str, np.ndarray]:
        """The weights as numpy arrays in the torch layout."""
        ...

    def set_weights(self, model: Model, weights: dict[str, np.ndarray]) -> None:
        """Torch-layout weights loaded, all or nothing (WeightMismatchError names every bad key)."""
        ...

    def generate(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
                 temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
        """The module's own generate: idx (B, T0) extended; sampled as learngpt/sampling.py says (the same maths
        on every backend)."""
        ...

    def complete(self, model: Model, idx: np.ndarray, max_new_tokens: int, greedy: bool = False, seed: int = 0,
                 temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
        """Like generate, as fast as the backend allows (what the commands use); reproducible for a seed."""
        ...


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    return device


OPERATIONS = tuple(n for n, v in vars(Adapter).items() if inspect.isfunction(v) and not n.startswith("_"))


def unimplemented(adapter: type) -> list[str]:
    """What the adapter class lacks of Adapter (its package, its lib, an operation) or spells with other
    parameters (names or order): empty for a complete adapter."""
    problems = [f"{name} is missing" for name in ("package", "lib") if not hasattr(adapter, name)]
    for name in OPERATIONS:
        mine, theirs = getattr(adapter, name, None), getattr(Adapter, name)
        if not callable(mine):
            problems.append(f"{name} is missing")
            continue
        spelled, wanted = (list(inspect.signature(f).parameters) for f in (mine, theirs))
        if spelled != wanted:
            problems.append(f"{name}({', '.join(spelled)}) differs from {name}({', '.join(wanted)})")
    return problems

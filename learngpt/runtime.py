"""What each backend package offers the floors above it: a `runtime` module (learngpt_torch/runtime.py,
learngpt_flax/runtime.py, mirrored) with one function per name in SURFACE, the same signatures on both sides
(tests/unit/test_layout.py), numpy arrays in and out, weights in the torch layout (state_dict keys).

    runtime = importlib.import_module("learngpt_flax.runtime")  # or learngpt_torch.runtime: the same calls
    model = runtime.create(lambda lib: lib.MultiHeadVer2(8, 16, 4), example=x, seed=0, dtype="float64")
    y = runtime.forward(model, x)                 # numpy in, numpy out
    history = runtime.train(model, cfg, sampler)  # the backend's own trainer, in place

Adding a backend means adding a package with such a module (and its twin of every lesson file).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DTYPES = ("float32", "float64")
DEVICES = ("cpu", "gpu")


@dataclass
class Model:
    """A built and initialised model: the module, its params (Flax's pytree; torch keeps them inside the
    module) and the dtype it computes in."""
    module: Any
    params: Any = None
    dtype: str = "float32"


SURFACE = {
    "device_scope": "(device) a context within which models are created and run on device (cpu or gpu); a "
                    "UserError if the framework sees none",
    "create": "(recipe, example, seed, weights, dtype) recipe(package) built and initialised from seed (Flax "
              "traces example to shape its params); with weights (torch layout), holding those instead",
    "forward": "(model, x, train, seed) the output (a GPT's logits); train=True turns dropout on, drawn from seed",
    "intermediates": "(model, x) what the modules expose on the way (attention weights, score variance), by "
                     "dotted module path",
    "loss": "(model, x, y) a language model's mean cross-entropy, dropout off",
    "param_count": "(model, prefix) trainable numbers under the torch-layout key prefix",
    "train": "(model, cfg, sampler, evals, max_iters, eval_interval, progress) the backend's trainer (through "
             "its fast.py), in place: AdamW steps, evaluations between chunks; the History",
    "train_parallel": "(model, cfg, sampler, world, ...) the data-parallel trainer (the package's parallel.py) "
                      "over world's processes; afterwards model holds the whole trained weights on this "
                      "process. (History, what one device held)",
    "dropout_masks": "(shape, rate, seed, world, device) the keep-masks a data-parallel run's dropout draws on a "
                     "global batch: this process's, one array per device it holds",
    "get_weights": "(model) the weights as numpy arrays in the torch layout",
    "set_weights": "(model, weights) torch-layout weights loaded, all or nothing (WeightMismatchError names "
                   "every bad key)",
    "generate": "(model, idx, max_new_tokens, greedy, seed, temperature, top_k) the module's own generate: idx "
                "(B, T0) extended; sampled as learngpt/sampling.py says (the same maths on every backend)",
    "complete": "(model, idx, max_new_tokens, greedy, seed, temperature, top_k) like generate, as fast as the backend allows (what "
                "the commands use); reproducible for a seed",
}

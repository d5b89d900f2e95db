"""parity: the bridge between the backends for any torch.nn.Module / flax (linen or nnx) Module pair: weights
both ways by rule (parity.rules), safetensors files, and the comparison of outputs, gradients and every layer
(parity.check). Importing it imports no framework: each name is loaded from its module on first use.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "abstract_params": "parity.bridge", "flax_to_torch": "parity.bridge", "load_into_torch": "parity.bridge",
    "torch_state": "parity.bridge", "torch_to_flax": "parity.bridge",
    "read_weights": "parity.weights", "write_weights": "parity.weights",
    "DEFAULT_RULES": "parity.rules", "Rules": "parity.rules", "leaf": "parity.rules", "permute": "parity.rules",
    "rename": "parity.rules", "reshape": "parity.rules",
    "ParityError": "parity.errors", "ParityInputError": "parity.errors", "ParityUsageError": "parity.errors",
    "WeightMismatchError": "parity.errors", "WeightsFileError": "parity.errors", "WeightsWriteError": "parity.errors",
    "Report": "parity.check", "assert_parity": "parity.check", "compare": "parity.check",
    "compare_training": "parity.train", "TrainingReport": "parity.train",
    "load_nnx": "parity.nnx", "nnx_params": "parity.nnx", "nnx_to_torch": "parity.nnx", "torch_to_nnx": "parity.nnx",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'parity' has no attribute {name!r}")

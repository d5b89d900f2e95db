"""parity: the bridge between the backends for any torch.nn.Module / flax (linen or nnx) Module pair: weights
both ways by rule (parity.rules), safetensors files, and the comparison of outputs, gradients and every layer
(parity.check). Importing it imports no framework: each name is loaded from its module on first use.
"""
import importlib

_MODULES = {  # each module and the names it exports
    "parity.bridge": ("abstract_params", "flax_to_torch", "load_into_torch", "torch_state", "torch_to_flax"),
    "parity.weights": ("read_weights", "write_weights"),
    "parity.rules": ("DEFAULT_RULES", "Rules", "leaf", "permute", "rename", "reshape"),
    "parity.errors": ("ParityError", "ParityInputError", "ParityUsageError", "WeightMismatchError", "WeightsFileError",
                      "WeightsWriteError"),
    "parity.check": ("Report", "assert_parity", "compare"),
    "parity.train": ("compare_training", "TrainingReport"),
    "parity.nnx": ("load_nnx", "nnx_params", "nnx_to_torch", "torch_to_nnx"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'parity' has no attribute {name!r}")

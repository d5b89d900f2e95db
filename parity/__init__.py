"""parity: the bridge between the backends (weights both ways, safetensors I/O) and the comparisons."""
from parity.bridge import (WeightMismatchError, abstract_params, flax_to_torch, load_into_torch,
                           torch_state, torch_to_flax)

__all__ = ["WeightMismatchError", "abstract_params", "flax_to_torch", "load_into_torch", "torch_state",
           "torch_to_flax"]

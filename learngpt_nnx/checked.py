"""Token ids checked inside a compiled program: `checked(fn)` jits fn with every id checked on the device."""
from __future__ import annotations

from typing import Callable

from flax import nnx

from learngpt_jax import checked as on_jax
from learngpt_jax.checked import on_device  # LanguageModel.check_tokens' check, added while `checked` traces

__all__ = ["checked", "on_device"]


def checked(fn: Callable) -> Callable:
    """fn (a function that applies a LanguageModel) jitted with every token id checked on the device: a bad id
    raises the InputError the unjitted model gives, where plain jit returns NaN. For users who jit the model
    themselves; the NNX trainer and fast decoding check their host arrays instead, at no cost."""
    def traced(graphdef, state):  # the modules rebuilt inside the trace, where they may set attributes
        args, kwargs = nnx.merge(graphdef, state)
        return fn(*args, **kwargs)
    program = on_jax.checked(traced, static_argnums=0)
    return lambda *args, **kwargs: program(*nnx.split((args, kwargs)))  # what fn changes in them is dropped

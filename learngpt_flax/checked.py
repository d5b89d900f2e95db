"""Token ids checked inside a compiled program: `checked(fn)` jits fn with every id checked on the device."""
from __future__ import annotations

from typing import Callable

from learngpt_jax import checked as on_jax
from learngpt_jax.checked import on_device  # LanguageModel.check_tokens' check, added while `checked` traces

__all__ = ["checked", "on_device"]


def checked(fn: Callable) -> Callable:
    """fn (a function that applies a LanguageModel) jitted with every token id checked on the device: a bad id
    raises the InputError the unjitted model gives, where plain jit returns NaN. For users who jit the model
    themselves; the Flax trainer and fast decoding check their host arrays instead, at no cost."""
    return on_jax.checked(fn)

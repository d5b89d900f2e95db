"""Token ids checked inside a compiled program: `checked(fn)` jits fn with every id checked on the device."""
from __future__ import annotations

import threading
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jax.experimental import checkify

from learngpt import checks
from learngpt.errors import InputError

_CHECKING = threading.local()  # on while `checked` traces a function


def on_device(idx: jax.Array, vocab_size: int) -> None:
    """Inside `checked`: a check of idx (B, T) that the compiled program runs; elsewhere nothing."""
    if idx.size and getattr(_CHECKING, "on", False):
        outside = (idx < 0) | (idx >= vocab_size)  # (B, T)
        first = idx.reshape(-1)[jnp.argmax(outside.reshape(-1))]  # (): the first bad id, if any
        checkify.check(~outside.any(), checks.TOKEN_OUT_OF_RANGE, first, jnp.asarray(vocab_size))


def checked(fn: Callable) -> Callable:
    """fn (a function that applies a LanguageModel) jitted with every token id checked on the device: a bad id
    raises the InputError the unjitted model gives, where plain jit returns NaN. For users who jit the model
    themselves; the NNX trainer and fast decoding check their host arrays instead, at no cost."""
    def traced(graphdef, state):  # the modules rebuilt inside the trace, where they may set attributes
        _CHECKING.on = True
        try:
            args, kwargs = nnx.merge(graphdef, state)
            return fn(*args, **kwargs)
        finally:
            _CHECKING.on = False
    program = jax.jit(checkify.checkify(traced, errors=checkify.user_checks), static_argnums=0)

    def run(*args, **kwargs):
        error, out = program(*nnx.split((args, kwargs)))  # what fn changes in the modules is dropped
        try:
            error.throw()
        except checkify.JaxRuntimeError as err:
            raise InputError(str(err).removesuffix(" (`check` failed)")) from None
        return out
    return run

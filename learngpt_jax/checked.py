"""Token ids checked inside a compiled program, under either Flax API: `checked(fn)` jits fn with checkify,
and on_device, which LanguageModel.check_tokens calls, adds the check while fn is traced there.
learngpt_flax's and learngpt_nnx's checked.py wrap it for their models."""
from __future__ import annotations

import threading
from typing import Callable

import jax
import jax.numpy as jnp
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


def checked(fn: Callable, static_argnums: int | tuple = ()) -> Callable:
    """fn jitted (static_argnums as jax.jit's) with every check on_device adds run on the device: a bad id
    raises the InputError the unjitted model gives, where plain jit returns NaN."""
    def traced(*args, **kwargs):
        _CHECKING.on = True
        try:
            return fn(*args, **kwargs)
        finally:
            _CHECKING.on = False
    program = jax.jit(checkify.checkify(traced, errors=checkify.user_checks), static_argnums=static_argnums)

    def run(*args, **kwargs):
        error, out = program(*args, **kwargs)
        try:
            error.throw()
        except checkify.JaxRuntimeError as err:
            raise InputError(str(err).removesuffix(" (`check` failed)")) from None
        return out
    return run

"""Token ids checked around a compiled program: `checked(fn, vocab_size)` compiles fn, every id checked."""
from __future__ import annotations

from typing import Callable

import torch

from learngpt import checks


def on_device(idx: torch.Tensor, vocab_size: int) -> None:
    """Nothing to add inside the program: outside torch.compile, LanguageModel.check_tokens checks the ids."""


def checked(fn: Callable, vocab_size: int) -> Callable:
    """fn (a function that applies a LanguageModel) through torch.compile, the ids of every integer tensor
    argument checked on the host first: a bad id raises the InputError the eager model gives, where the
    compiled lookup fails with "index out of bounds". Torch has no check that runs inside the program (the
    Flax twin has checkify), so it is told the vocabulary size."""
    program = torch.compile(fn)

    def run(*args, **kwargs):
        for v in (*args, *kwargs.values()):
            if isinstance(v, torch.Tensor) and not v.is_floating_point() and v.numel():
                checks.check_token_ids(v.dtype, vocab_size, int(v.min()), int(v.max()))
        return program(*args, **kwargs)
    return run

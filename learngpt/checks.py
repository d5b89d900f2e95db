"""Input checks that both backends share, so both reject the same bad input with the same error
(learngpt.errors.InputError, a ValueError) and the same message."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np

from learngpt.errors import InputError

TOKEN_DTYPES = ("int32", "int64")  # what both frameworks' lookups take (torch refuses uint8; JAX takes floats)
TOKEN_OUT_OF_RANGE = "token id {} is outside the vocabulary; expected ids in [0, {})"  # (the id, vocab_size)
_IDS_CHECKED = threading.local()  # on inside ids_checked()


def dtype_name(dtype: Any) -> str:
    """'float32' for torch.float32, jnp.float32 and numpy's float32 alike."""
    return str(getattr(dtype, "name", dtype)).removeprefix("torch.")


def check_sizes(name: str, **sizes: Any) -> None:
    """Constructor sizes (block_size, embed_size, ...): positive integers."""
    for field, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InputError(f"{name}: {field} must be a positive integer, got {value!r}")


def check_divisible(embed_size: int, n_heads: int) -> None:
    if n_heads <= 0 or embed_size % n_heads != 0:
        raise InputError(
            f"embed_size {embed_size} is not divisible by n_heads {n_heads}; "
            f"expected n_heads to divide embed_size")


def check_dropout(rate: float) -> None:
    if not 0.0 <= rate < 1.0:  # NaN fails this too
        raise InputError(f"dropout rate {rate} is outside [0, 1); expected 0 <= rate < 1")


def check_layer_norm_features(features: int) -> None:
    check_sizes("LayerNorm", features=features)
    if features < 2:
        raise InputError(f"LayerNorm over {features} feature(s) is undefined (the unbiased std divides by "
                         f"features - 1); expected at least 2 features")


def check_width(shape: Sequence[int], dtype: Any, width: int, name: str) -> None:
    """An activation (..., C): floating point, C = width (any rank: FeedForward and LayerNorm work per row)."""
    if not dtype_name(dtype).startswith(("float", "bfloat")):
        raise InputError(f"{name} expects floating-point input, got {dtype_name(dtype)}")
    if len(shape) == 0 or shape[-1] != width:
        got = shape[-1] if len(shape) else "a scalar"
        raise InputError(f"{name} expects {width} features, got {got} (shape {tuple(shape)})")


def check_features(shape: Sequence[int], dtype: Any, embed_size: int, name: str) -> None:
    """A (B, T, C) activation: rank 3, floating point, T unchecked here, C = embed_size."""
    if len(shape) != 3:
        raise InputError(f"{name} expects input of rank 3 (B, T, C), got rank {len(shape)} with shape "
                         f"{tuple(shape)}")
    check_width(shape, dtype, embed_size, name)


def check_sequence(shape: Sequence[int], block_size: int, name: str, rank: int = 3) -> None:
    """Rank and sequence length of an input whose axis 1 is time."""
    layout = "(B, T, C)" if rank == 3 else "(B, T)"
    if len(shape) != rank:
        raise InputError(f"{name} expects input of rank {rank} {layout}, got rank {len(shape)} with shape "
                         f"{tuple(shape)}")
    if shape[1] > block_size:
        raise InputError(f"sequence length {shape[1]} exceeds block_size {block_size}")


def check_token_dtype(dtype: Any) -> None:
    """Token ids are integers both backends index with (also checkable under jit, where the values are not)."""
    if dtype_name(dtype) not in TOKEN_DTYPES:
        raise InputError(f"token ids must be integers of dtype {' or '.join(TOKEN_DTYPES)}, "
                         f"got {dtype_name(dtype)}")


def check_token_ids(dtype: Any, vocab_size: int, lowest: int, highest: int) -> None:
    """Token ids: an integer dtype both backends index with, every id in [0, vocab_size)."""
    check_token_dtype(dtype)
    if lowest < 0 or highest >= vocab_size:
        raise InputError(TOKEN_OUT_OF_RANGE.format(lowest if lowest < 0 else highest, vocab_size))


def check_new_tokens(n: int) -> None:
    """How many tokens generate appends: a whole number, 0 or more."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"max_new_tokens must be a whole number >= 0, got {n!r}")


def check_host_ids(vocab_size: int, *arrays: Any) -> None:
    """check_token_ids on whole host arrays (numpy): where the check is free, before a compiled program, in
    which a bad id would poison the result instead of raising."""
    for ids in arrays:
        check_token_ids(ids.dtype, vocab_size, int(ids.min()), int(ids.max()))


@contextmanager
def ids_checked() -> Iterator[None]:
    """Inside, the caller has already checked the range of every token id it gives a model (check_host_ids on
    its numpy batches, or a prompt once before generating): a model's forward does not read its ids back,
    the device-to-host synchronisation its own check costs. The trainers and generate run their steps inside;
    the shape and dtype checks, which read no value, still run."""
    before = getattr(_IDS_CHECKED, "on", False)
    _IDS_CHECKED.on = True
    try:
        yield
    finally:
        _IDS_CHECKED.on = before


def ids_to_check() -> bool:
    """Whether a model must check the range of its token ids itself: everywhere but inside ids_checked."""
    return not getattr(_IDS_CHECKED, "on", False)

"""Input checks that both backends share, so both reject the same bad input with the same error."""
from __future__ import annotations

from typing import Sequence

from learngpt.errors import InputError


def check_divisible(embed_size: int, n_heads: int) -> None:
    if n_heads <= 0 or embed_size % n_heads != 0:
        raise InputError(
            f"embed_size {embed_size} is not divisible by n_heads {n_heads}; "
            f"expected n_heads to divide embed_size")


def check_dropout(rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise InputError(f"dropout rate {rate} is outside [0, 1); expected 0 <= rate < 1")


def check_layer_norm_features(features: int) -> None:
    if features < 2:
        raise InputError(f"LayerNorm over {features} feature(s) is undefined (the unbiased std divides by "
                         f"features - 1); expected at least 2 features")


def check_features(shape: Sequence[int], embed_size: int, name: str) -> None:
    """A (B, T, C) activation: rank 3, T unchecked here, C = embed_size."""
    if len(shape) != 3:
        raise InputError(f"{name} expects input of rank 3 (B, T, C), got rank {len(shape)} with shape {tuple(shape)}")
    if shape[-1] != embed_size:
        raise InputError(f"{name} expects {embed_size} features, got {shape[-1]} (shape {tuple(shape)})")


def check_sequence(shape: Sequence[int], block_size: int, name: str, rank: int = 3) -> None:
    """Rank and sequence length of an input whose axis 1 is time."""
    layout = "(B, T, C)" if rank == 3 else "(B, T)"
    if len(shape) != rank:
        raise InputError(f"{name} expects input of rank {rank} {layout}, got rank {len(shape)} with shape {tuple(shape)}")
    if shape[1] > block_size:
        raise InputError(f"sequence length {shape[1]} exceeds block_size {block_size}")


TOKEN_DTYPES = ("int32", "int64")  # what both frameworks' lookups take (torch refuses uint8, JAX would take floats)


def check_token_ids(dtype: str, vocab_size: int, lowest: int, highest: int) -> None:
    """Token ids: an integer dtype both backends index with, every id in [0, vocab_size)."""
    if dtype not in TOKEN_DTYPES:
        raise InputError(f"token ids must be integers of dtype {' or '.join(TOKEN_DTYPES)}, got {dtype}")
    if lowest < 0 or highest >= vocab_size:
        bad = lowest if lowest < 0 else highest
        raise InputError(f"token id {bad} is outside the vocabulary; expected ids in [0, {vocab_size})")

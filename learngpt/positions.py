"""Position encodings as plain numpy constants, shared by both backends."""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=None)
def _sinusoidal(block_size: int, embed_size: int) -> np.ndarray:
    pos = np.arange(block_size, dtype=np.float64)[:, None]  # (T, 1)
    i = np.arange(0, embed_size, 2, dtype=np.float64)[None, :]  # (1, ceil(C/2)): the even feature indices 2i
    angles = pos / 10000.0 ** (i / embed_size)  # (T, 1) / (1, C/2) -> (T, C/2)
    table = np.zeros((block_size, embed_size), dtype=np.float64)  # (T, C)
    table[:, 0::2] = np.sin(angles)  # sin on even features
    table[:, 1::2] = np.cos(angles[:, : embed_size // 2])  # cos on odd features
    table.flags.writeable = False
    return table


def sinusoidal(block_size: int, embed_size: int) -> np.ndarray:
    """GPTVer3's encodings, (T, C) float64: PE[pos, 2i] = sin(pos / 10000^(2i/C)), PE[pos, 2i+1] = cos(same)."""
    return _sinusoidal(int(block_size), int(embed_size))

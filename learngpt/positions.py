"""Position encodings as plain numpy constants, shared by both backends.

Week 1 tries four encodings before settling on the sinusoidal one (v4, the one GPTVer3 uses). Each
table is (T, C) float64, row `pos` the encoding of position `pos`:

    v1  PE[pos, i] = pos                                  unbounded
    v2  PE[pos, i] = pos / (block_size - 1)               depends on the sequence length
    v3  PE[pos, i] = sin(pos * 10000^(-i/C))              distances depend on where you are
    v4  PE[pos, 2i] = sin(pos / 10000^(2i/C)), PE[pos, 2i+1] = cos(same)

and `properties` measures the four things a good encoding needs (see its docstring).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from learngpt.errors import InputError

VERSIONS = (1, 2, 3, 4)
PROPERTIES = ("distinct", "bounded", "length_independent", "equally_spaced")


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


def _frozen(table: np.ndarray) -> np.ndarray:
    table.flags.writeable = False
    return table


@lru_cache(maxsize=None)
def _encoding(version: int, block_size: int, embed_size: int) -> np.ndarray:
    pos = np.arange(block_size, dtype=np.float64)[:, None]  # (T, 1)
    if version == 1:
        return _frozen(np.repeat(pos, embed_size, axis=1))  # (T, 1) -> (T, C): the position itself
    if version == 2:
        return _frozen(np.repeat(pos / max(block_size - 1, 1), embed_size, axis=1))  # (T, C): scaled into [0, 1]
    if version == 3:
        i = np.arange(embed_size, dtype=np.float64)[None, :]  # (1, C): every feature index i
        return _frozen(np.sin(pos * 10000.0 ** (-i / embed_size)))  # (T, 1) * (1, C) -> (T, C)
    return _sinusoidal(block_size, embed_size)


def check_version(version: int) -> None:
    if version not in VERSIONS:
        raise InputError(f"position encoding version {version!r} does not exist; expected one of {VERSIONS}")


def encoding(version: int, block_size: int, embed_size: int) -> np.ndarray:
    """Week 1's position encoding number `version` (1-4), (T, C) float64, read-only."""
    check_version(version)
    return _encoding(int(version), int(block_size), int(embed_size))


def properties(tables: dict[int, np.ndarray], tol: float = 1e-4) -> dict[str, bool]:
    """Which of the four properties hold for one encoding, given its tables for several sequence lengths.

    tables maps a sequence length T to that encoding's (T, C) table (from either backend). The properties:
    distinct: no two positions share an encoding; bounded: every value lies in [-1, 1];
    length_independent: the distance between two positions is the same whatever the sequence length;
    equally_spaced: positions k apart are the same distance apart wherever they are.
    """
    tables = {T: np.asarray(t, dtype=np.float64) for T, t in tables.items()}
    dists = {T: np.linalg.norm(t[:, None, :] - t[None, :, :], axis=-1) for T, t in tables.items()}  # (T, T) each
    shortest = min(tables)
    spaced = []
    for T, d in dists.items():
        for k in range(1, T):
            steps = np.diagonal(d, offset=k)  # (T - k,): |PE(p + k) - PE(p)| for every p
            spaced.append(np.ptp(steps) <= tol * max(1.0, float(steps.max())))
    return {
        "distinct": all(bool(np.all(d[~np.eye(len(d), dtype=bool)] > tol)) for d in dists.values()),
        "bounded": all(bool(np.abs(t).max() <= 1.0 + tol) for t in tables.values()),
        "length_independent": all(
            bool(np.abs(d[:shortest, :shortest] - dists[shortest]).max() <= tol * max(1.0, float(d.max())))
            for d in dists.values()),
        "equally_spaced": all(spaced),
    }

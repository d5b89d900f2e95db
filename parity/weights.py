"""Shared weights on disk: safetensors files in the torch layout, with string metadata, written atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

from learngpt.errors import LearngptError
from learngpt.files import MAX_JSON_DEPTH, atomic_write, loads_json

MAX_HEADER_BYTES = 100_000_000  # safetensors' own bound on a header: a longer one is refused before it is read


class WeightsFileError(LearngptError, ValueError):
    """A weights file that is missing, truncated, corrupt, or not what was expected."""


def write_weights(path: str | os.PathLike, weights: Mapping[str, np.ndarray],
                  metadata: Mapping[str, str] | None = None) -> Path:
    """Write weights (torch-layout keys) to path whole or not at all (learngpt.files.atomic_write: a temporary
    file beside it, fsync, one rename; a killed writer's leftovers are removed by the next write)."""
    arrays = {k: np.ascontiguousarray(np.asarray(v)) for k, v in weights.items()}
    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    data = save(arrays, metadata=meta)  # in memory: safetensors' own file writer leaves temporaries of its own
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def _entries(header, path: Path) -> dict:
    """The header's tensor entries, each checked to be {"dtype", "shape", "data_offsets": [begin, end]}."""
    if not isinstance(header, dict):
        raise WeightsFileError(f"{path} has a corrupt safetensors header (a JSON {type(header).__name__}, "
                               f"expected an object)")
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    for key, entry in entries.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] and "dtype" in entry and "shape" in entry):
            raise WeightsFileError(f"{path} has a corrupt safetensors header: the entry {key!r} is not "
                                   f"{{dtype, shape, data_offsets: [begin, end]}}")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise WeightsFileError(f"{path} has a corrupt safetensors header: __metadata__ is not a map of strings")
    return entries


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The header metadata of a safetensors file, checked for truncation against the header's offsets."""
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"weights file not found: {path}")
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise WeightsFileError(f"{path} is not a safetensors file: {size} bytes, too short for a header")
        n = int.from_bytes(raw, "little")
        if n > MAX_HEADER_BYTES:
            raise WeightsFileError(f"{path} is not a safetensors file: its header claims {n} bytes, more than the "
                                   f"{MAX_HEADER_BYTES} safetensors allows")
        if n <= 0 or 8 + n > size:
            raise WeightsFileError(f"{path} is truncated or not a safetensors file: header of {n} bytes, "
                                   f"file of {size}")
        try:
            header = loads_json(f.read(n), MAX_JSON_DEPTH)  # nesting bounded before the parser recurses
        except (UnicodeDecodeError, ValueError) as err:
            raise WeightsFileError(f"{path} has a corrupt safetensors header ({err})") from err
    end = max((v["data_offsets"][1] for v in _entries(header, path).values()), default=0)
    if 8 + n + end != size:
        raise WeightsFileError(f"{path} is truncated or padded: its header promises {8 + n + end} bytes, "
                               f"the file has {size}")
    return dict(header.get("__metadata__") or {})


def read_weights(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(weights, metadata) from a safetensors file, with a clear error for a truncated or corrupt one."""
    metadata = read_metadata(path)
    try:
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsFileError(f"{path} could not be read as safetensors ({err})") from err

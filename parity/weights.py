"""Shared weights on disk: safetensors files in the torch layout, with string metadata, written atomically."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from learngpt.errors import LearngptError


class WeightsFileError(LearngptError, ValueError):
    """A weights file that is missing, truncated, corrupt, or not what was expected."""


def write_weights(path: str | os.PathLike, weights: Mapping[str, np.ndarray],
                  metadata: Mapping[str, str] | None = None) -> Path:
    """Write weights (torch-layout keys) to path: a temporary file beside it, then an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(np.asarray(v)) for k, v in weights.items()}
    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(arrays, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


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
        if n <= 0 or 8 + n > size:
            raise WeightsFileError(f"{path} is truncated or not a safetensors file: header of {n} bytes, "
                                   f"file of {size}")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise WeightsFileError(f"{path} has a corrupt safetensors header ({err})") from err
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
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

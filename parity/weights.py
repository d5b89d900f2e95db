"""Shared weights on disk: safetensors files in the torch layout, with string metadata, written atomically."""
import json
import os
import re
import secrets
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

from parity.errors import WeightsFileError, WeightsWriteError

MAX_HEADER_BYTES = 100_000_000  # safetensors' own bound on a header: a longer one is refused before it is read
MAX_JSON_DEPTH = 64  # nesting a header's JSON never comes near: deeper is refused before the parser recurses


def write_weights(path: str | os.PathLike, weights: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None,
                  atomic_write: Callable[[str | os.PathLike, Callable[[str], None]], Path] | None = None) -> Path:
    """Write weights (torch-layout keys) to path whole or not at all, through atomic_write(path, write) (write
    fills the temporary file it is given; default: parity's own, replace_whole)."""
    arrays = {k: np.ascontiguousarray(np.asarray(v)) for k, v in weights.items()}
    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    data = save(arrays, metadata=meta)  # in memory: safetensors' own file writer leaves temporaries of its own
    return (atomic_write or replace_whole)(path, lambda tmp: Path(tmp).write_bytes(data))


def replace_whole(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """write(temporary_path) fills a new file beside path (O_EXCL, a plain file's mode: 0666 & ~umask); flushed to
    disk, it replaces path in one rename; on failure path is unchanged and the temporary removed
    (WeightsWriteError)."""
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        name = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        tmp = name  # this writer's own from here: removed whatever happens
        write(str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself reaches the disk
        finally:
            os.close(folder)
    except OSError as err:
        raise WeightsWriteError(f"cannot write {path}: {err.strerror or err}; the old file is unchanged") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def _loads_json(raw: bytes):
    """json.loads after its nesting is bounded (MAX_JSON_DEPTH), counted without parsing (brackets inside strings
    not counted): ValueError for deeper text, before the parser recurses into it."""
    codes = np.frombuffer(re.sub(rb'"(?:[^"\\]|\\.)*"', b'""', raw, flags=re.S), dtype=np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    depth = int(np.cumsum(steps).max(initial=0))
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested {depth} levels deep; at most {MAX_JSON_DEPTH} are read")
    return json.loads(raw)


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
            header = _loads_json(f.read(n))  # nesting bounded before the parser recurses
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

"""Checkpoints both backends read and write: one safetensors file in the torch layout, the model in its metadata.

The metadata (strings, as safetensors requires) says everything needed to rebuild the model without the
run that made it:

    format        "learngpt-checkpoint"       what kind of file this is
    version       "2"                         the layout of this metadata
    config        Config.to_dict() as JSON    sizes, optimiser values, seed
    architecture  {"gpt", "contextualizer", "n_layers", "head"} as JSON: a learngpt.components.Architecture
    vocab         the tokenizer's characters  so that a prompt is encoded as in training
    backend, step who wrote it and after how many steps (informational)
    sha256        digest of every field above a flipped byte anywhere in the data or the metadata is caught,
                  and of every tensor        not loaded

Loading checks, in order: the file (missing, truncated, corrupt header), the metadata (format, version), the
digest, the metadata's values (config, architecture, each JSON nested at most learngpt_lab.files.MAX_JSON_DEPTH deep,
a step in [0, MAX_STEP], a vocabulary of distinct characters), every tensor
floating-point and finite, then every key and shape against the model the metadata describes. Nothing is
loaded into a model until all of these pass.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from learngpt.components import NANOGPT, Architecture
from learngpt.config import Config
from learngpt.errors import DivergedError, InputError
from learngpt_lab.files import atomic_write, loads_json
from learngpt_lab.resume import MAX_STEP  # a checkpoint's step count at most: a resumed run skips that many batches
from parity.weights import WeightsFileError, read_weights, write_weights

FORMAT = "learngpt-checkpoint"
VERSION = "2"  # 2: the digest covers the metadata
COVERED = ("format", "version", "config", "architecture", "vocab", "backend", "step")  # what sha256 vouches for


@dataclass
class Checkpoint:
    """What a checkpoint file holds: torch-layout weights and the description of the model."""
    weights: dict[str, np.ndarray]
    config: Config
    architecture: Architecture = NANOGPT
    vocab: str = ""
    backend: str = ""
    step: int = 0


def check_finite_weights(weights: Mapping[str, Any], context: str) -> None:
    """DivergedError naming the tensors that hold NaN or infinity (a diverged run's weights)."""
    bad = [k for k, v in weights.items() if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all()]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise DivergedError(f"{context}: non-finite weights (NaN or infinity) in {', '.join(bad[:3])}{more}")


def digest(weights: Mapping[str, Any], metadata: Mapping[str, str]) -> str:
    """sha256 over the COVERED metadata fields (name and value) and every tensor's name, dtype, shape and
    bytes, in sorted key order."""
    h = hashlib.sha256()
    for name in COVERED:
        h.update(f"{name}={json.dumps(metadata.get(name))}|".encode())
    for key in sorted(weights):
        a = np.ascontiguousarray(np.asarray(weights[key]))
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write checkpoint to path atomically (a temporary file beside it, then a rename)."""
    if checkpoint.config.vocab_size != len(checkpoint.vocab):
        raise InputError(f"the vocabulary has {len(checkpoint.vocab)} characters but config.vocab_size is "
                         f"{checkpoint.config.vocab_size}")
    check_vocab(checkpoint.vocab, f"refusing to save {path}")
    weights = {k: np.asarray(v) for k, v in checkpoint.weights.items()}
    check_float_weights(weights, f"refusing to save {path}")
    check_finite_weights(weights, f"refusing to save {path}")
    metadata = {
        "format": FORMAT, "version": VERSION,
        "config": json.dumps(checkpoint.config.to_dict()),
        "architecture": json.dumps(checkpoint.architecture.to_dict()),
        "vocab": checkpoint.vocab, "backend": checkpoint.backend, "step": str(check_step(int(checkpoint.step))),
    }
    # the lab's one atomic writer: keyed temporaries, a killed writer's swept by the next write, WriteError in one line
    return write_weights(path, weights, {**metadata, "sha256": digest(weights, metadata)}, atomic_write=atomic_write)


def check_step(text: Any) -> int:
    """A step count: a whole number in [0, MAX_STEP] (ValueError naming it otherwise), bounded before any work."""
    value = str(text).strip()
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(MAX_STEP)) and int(value) <= MAX_STEP):
        shown = repr(value[:24]) + ("..." if len(value) > 24 else "")
        raise ValueError(f"step must be a whole number in [0, {MAX_STEP}], got {shown}")
    return int(value)


def check_vocab(vocab: str, context: str) -> None:
    """InputError unless the vocabulary's characters are distinct (a tokenizer maps each to one id)."""
    repeated = sorted({c for c in vocab if vocab.count(c) > 1})
    if repeated:
        raise InputError(f"{context}: the vocabulary repeats {', '.join(map(repr, repeated[:5]))}; each character "
                         f"must appear once")


def check_float_weights(weights: Mapping[str, Any], context: str) -> None:
    """WeightsFileError naming the tensors that are not floating-point (a model's weights all are)."""
    bad = [f"{k} ({np.asarray(v).dtype})" for k, v in weights.items() if np.asarray(v).dtype.kind != "f"]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise WeightsFileError(f"{context}: tensors that are not floating-point: {', '.join(bad[:3])}{more}")


def _field(metadata: Mapping[str, str], name: str, path: Path) -> str:
    if name not in metadata:
        raise WeightsFileError(f"{path} is not a learngpt checkpoint: its metadata has no {name!r} "
                               f"(found {sorted(metadata)})")
    return metadata[name]


def load(path: str | os.PathLike) -> Checkpoint:
    """Read and verify a checkpoint file; raise WeightsFileError naming the problem."""
    path = Path(path)
    weights, metadata = read_weights(path)  # missing, truncated, corrupt header: WeightsFileError
    fmt = _field(metadata, "format", path)
    if fmt != FORMAT:
        raise WeightsFileError(f"{path} is not a learngpt checkpoint: format {fmt!r}, expected {FORMAT!r}")
    version = _field(metadata, "version", path)
    if version != VERSION:
        raise WeightsFileError(f"{path} has checkpoint version {version!r}; this learngpt reads version "
                               f"{VERSION!r} (version 1's digest did not cover the metadata: retrain to rewrite it)")
    expected = _field(metadata, "sha256", path)
    found = digest(weights, metadata)
    if found != expected:
        raise WeightsFileError(f"{path} is corrupt: its sha256 is {found[:12]}..., the metadata promises "
                               f"{expected[:12]}...")
    try:
        cfg = Config.from_dict(loads_json(_field(metadata, "config", path)))  # nesting bounded first
        arch = Architecture.from_dict(loads_json(_field(metadata, "architecture", path)))
        step = check_step(metadata.get("step", "0"))
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        if isinstance(err, WeightsFileError):
            raise
        raise WeightsFileError(f"{path} has unreadable checkpoint metadata ({err})") from err
    vocab = _field(metadata, "vocab", path)
    if len(vocab) != cfg.vocab_size:
        raise WeightsFileError(f"{path}: the vocabulary has {len(vocab)} characters, "
                               f"config.vocab_size is {cfg.vocab_size}")
    try:
        check_vocab(vocab, f"{path} cannot be used")
    except InputError as err:
        raise WeightsFileError(str(err)) from None
    check_float_weights(weights, f"{path} cannot be used")
    check_finite_weights(weights, f"{path} cannot be used")
    return Checkpoint(weights, cfg, arch, vocab, metadata.get("backend", ""), step)

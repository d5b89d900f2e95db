"""What a model or a run holds in memory, estimated from its sizes alone, and the bound checked before anything
is allocated: every command and both backends refuse, in one line, sizes this machine cannot hold.

The estimate counts what cannot be avoided (float32 numbers, int64 token ids), never more: a run it refuses
cannot fit; one it lets through may still need more (the frameworks' own work space). The terms:

    parameters      NanoGPT's: embeddings, n_layers blocks (12 C^2 + 10 C each), ln_f, lm_head
    masks           one causal (T, T) mask per block
    training state  a gradient and two AdamW moments per parameter
    activations     one step's, kept for the backward pass: per block 20 (B, T, C) tensors and 3 of the
                    attention scores (B, n_heads, T, T); the logits 3 times (B, T, vocab)
    eval batches    the fixed evaluation batches, (eval_iters, B, T) inputs and targets for each split
    step batches    the batches of the steps between two evaluations, drawn at once
    history         the loss of every step, and one record per evaluation
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from learngpt.errors import ConfigError

if TYPE_CHECKING:
    from learngpt.config import Config

FLOAT = 4  # bytes of a float32
TOKEN = 8  # bytes of an int64 token id
STEP_RECORD = 32  # bytes a Python float in a list takes: the history's loss of one step
EVAL_RECORD = 200  # bytes of one evaluation's record and the chunk it ends
SIZES = ("batch_size", "block_size", "embed_size", "n_layers", "eval_iters", "max_iters")  # what the hint may name


def machine_bytes() -> int:
    """The memory this process may use: the machine's physical memory, or its cgroup's limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def model_terms(cfg: "Config", n_layers: int | None = None) -> dict[str, int]:
    """Bytes of a built model: its parameters and its causal masks (n_layers: the model's blocks, else cfg's)."""
    n = cfg.n_layers if n_layers is None else n_layers
    c, t, v = cfg.embed_size, cfg.block_size, cfg.vocab_size
    params = v * c + t * c + n * (12 * c * c + 10 * c) + 2 * c + c * v + v
    return {"parameters": params * FLOAT, "masks": n * t * t * FLOAT}


def training_terms(cfg: "Config") -> dict[str, int]:
    """Bytes of a training run of cfg: the model's, then everything training adds (see the module)."""
    terms = model_terms(cfg)
    b, t, c, n = cfg.batch_size, cfg.block_size, cfg.embed_size, cfg.n_layers
    terms["training state"] = 3 * terms["parameters"]
    terms["activations"] = (n * (20 * b * t * c + 3 * b * cfg.n_heads * t * t) + 3 * b * t * cfg.vocab_size) * FLOAT
    terms["eval batches"] = 2 * 2 * cfg.eval_iters * b * t * TOKEN
    terms["step batches"] = 2 * min(cfg.eval_interval, cfg.max_iters) * b * t * TOKEN
    terms["history"] = cfg.max_iters * STEP_RECORD + (cfg.max_iters // cfg.eval_interval + 2) * EVAL_RECORD
    return terms


def readable(n: float) -> str:
    """Bytes for people: '23.4 GiB', '16.0 TiB'."""
    unit = "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            break
        n /= 1024
    return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"


def _largest(cfg: "Config", field: str, fits) -> int:
    """The largest value of cfg's field (the others as given) for which fits(cfg) holds; 0 if none does. The
    embedding width moves in steps of n_heads, which must divide it."""
    step = cfg.n_heads if field == "embed_size" else 1
    low, high = 0, getattr(cfg, field) // step  # in steps: fits at low (or low is 0), not at high
    while high - low > 1:
        mid = (low + high) // 2
        if fits(cfg.replace(**{field: mid * step})):
            low = mid
        else:
            high = mid
    return low * step


def check(cfg: "Config", training: bool = True, n_layers: int | None = None, available: int | None = None) -> None:
    """ConfigError, in one line, if the run (training) or the model alone does not fit in this machine's
    memory: what it would need, the machine's memory (the limit), and, for a run, the largest value of the
    size that overshoots most that would fit, the other sizes as given."""
    limit = machine_bytes() if available is None else available
    terms = training_terms if training else (lambda c: model_terms(c, n_layers))
    need = sum(terms(cfg).values())
    if need <= limit:
        return
    fits = lambda c: sum(terms(c).values()) <= limit  # noqa: E731
    largest = {f: _largest(cfg, f, fits) for f in SIZES} if training else {}
    largest = {f: v for f, v in largest.items() if v > 0}
    what = "the run" if training else "the model"
    hint = ""
    if largest:
        field = max(largest, key=lambda f: getattr(cfg, f) / largest[f])
        hint = f"; {field} {getattr(cfg, field)} -> at most {largest[field]} fits, the other sizes as given"
    main = max(terms(cfg).items(), key=lambda kv: kv[1])[0]
    raise ConfigError(f"{what} would need about {readable(need)} of memory (mostly {main}), more than this "
                      f"machine's {readable(limit)}{hint}")

"""Attention maps: the attention weights the modules keep (self.attentions in torch, sown in linen, an
nnx.Intermediate in NNX: each backend's `intermediates`), paired across backends by module path and drawn
head by head, one row per backend, the prompt's characters on the axes. Framework-free: numpy in, a PNG out
(matplotlib, imported when drawing)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from learngpt.data import CharTokenizer
from learngpt.errors import InputError
from learngpt_lab import backends

LABELS = {name: entry.label for name, entry in backends.BACKENDS.items()}  # name -> "Flax linen"
PANELS = 8  # panels per row of the figure at most


def collect(loaded: dict[str, tuple[Any, Any, Any]], prompt: str) -> dict[str, dict[str, np.ndarray]]:
    """backend name -> maps() of its model on prompt; loaded: name -> (Backend, Model, Checkpoint) as a
    learngpt_lab Backend's load_checkpoint gives them. InputError for an empty prompt, one longer than the
    model's block_size or with characters outside its vocabulary."""
    found = {}
    for name, (backend, model, ckpt) in loaded.items():
        if not prompt:
            raise InputError("--prompt is empty; give at least one character")
        if len(prompt) > ckpt.config.block_size:
            raise InputError(f"--prompt has {len(prompt)} characters; this model attends over at most "
                             f"block_size {ckpt.config.block_size}")
        idx = CharTokenizer(ckpt.vocab).encode(prompt)[None, :].astype(np.int64)  # (1, T)
        found[name] = maps(backend.intermediates(model, idx))
    return found


def torch_path(path: str) -> str:
    """A module path in torch's spelling: linen's `layers_3` and NNX's `layers.3` (a Sequential's list) -> `3`."""
    return re.sub(r"\blayers[._](\d+)\b", r"\1", path)


def maps(found: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The attention weights among a backend's intermediates, by torch-spelled module path, each (heads, T, T)
    for the first sequence of the batch (a single head's (B, T, T) gets a head axis of 1)."""
    out = {}
    for path, value in found.items():
        if not path.endswith("attentions"):
            continue
        a = np.asarray(value)[0]  # (nh, T, T) or (T, T)
        out[torch_path(path.rsplit(".", 1)[0]) or "(model)"] = a[None] if a.ndim == 2 else a
    return out


def pair(by_backend: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """The module paths every backend holds attention for, in the reference (first) backend's order; an
    InputError if they differ (the backends did not build the same model) or if there is none."""
    names = list(by_backend)
    first = list(by_backend[names[0]])
    for name in names[1:]:
        if set(by_backend[name]) != set(first):
            raise InputError(f"{names[0]} keeps attention at {sorted(first)}, {name} at {sorted(by_backend[name])}")
    if not first:
        raise InputError("this model keeps no attention weights (GPTVer1 has no attention; HeadVer1-3 average "
                         "with fixed weights, not attention): nothing to draw")
    return sorted(first, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"[.]", p)])


def char_label(c: str) -> str:
    """A character as an axis label: the invisible ones named."""
    return {"\n": "\\n", " ": "␣", "\t": "\\t"}.get(c, c)


def largest_difference(by_backend: dict[str, dict[str, np.ndarray]], path: str) -> float:
    """max |reference - other| over every backend's attention at path."""
    arrays = [maps_[path] for maps_ in by_backend.values()]
    return max((float(np.abs(a - arrays[0]).max()) for a in arrays[1:]), default=0.0)


def draw(by_backend: dict[str, dict[str, np.ndarray]], prompt: str, title: str, path: str | Path) -> list[str]:
    """figure() written to path as a PNG (atomically); its lines."""
    import matplotlib.pyplot as plt

    from learngpt_lab.files import atomic_write

    fig, lines = figure(by_backend, prompt, title)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)
    return lines


def figure(by_backend: dict[str, dict[str, np.ndarray]], prompt: str, title: str):
    """(matplotlib figure, lines): for each attention module and head, the backends' panels side by side (query
    rows, key columns, the prompt's characters on both axes, weights 0..1 on one colour scale); the panel titles say
    module, head and backend whole. lines: one per module, its largest difference across backends."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modules = pair(by_backend)
    backends = list(by_backend)
    heads = max(by_backend[backends[0]][m].shape[0] for m in modules)
    per_row = max(1, min(heads, PANELS // len(backends)))  # heads per row, each as its backends side by side
    lines_per_module = -(-heads // per_row)
    t = len(prompt)
    side = max(2.0, 0.28 * t + 1.0)  # inches per panel: room for a label per character
    rows, cols = len(modules) * lines_per_module, per_row * len(backends)
    fig, axes = plt.subplots(rows, cols, figsize=(side * cols + 1.2, side * rows + 0.9), squeeze=False)
    ticks = [char_label(c) for c in prompt]
    image = None
    lines = []
    for m, module in enumerate(modules):
        diff = largest_difference(by_backend, module)
        lines.append(f"{module}: {by_backend[backends[0]][module].shape[0]} heads, max |difference| across "
                     f"{', '.join(backends)}: {diff:.2e}")
        for h in range(lines_per_module * per_row):
            for b, backend in enumerate(backends):
                weights = by_backend[backend][module]  # (nh, T, T)
                r, c = m * lines_per_module + h // per_row, (h % per_row) * len(backends) + b
                ax = axes[r][c]
                if h >= weights.shape[0]:
                    ax.axis("off")
                    continue
                image = ax.imshow(weights[h], vmin=0.0, vmax=1.0, cmap="viridis")
                ax.set_title(f"{module}\nhead {h}, {LABELS.get(backend, backend)}", fontsize=8)
                ax.set_xticks(range(t), ticks, fontsize=8, fontfamily="monospace")
                ax.set_yticks(range(t), ticks, fontsize=8, fontfamily="monospace")
                if c == 0:
                    ax.set_ylabel("query (attends from)", fontsize=8)
                if r == rows - 1:
                    ax.set_xlabel("key (attends to)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.93, 0.97), h_pad=1.2)
    if image is not None:
        fig.colorbar(image, cax=fig.add_axes((0.945, 0.1, 0.012, 0.8)), label="attention weight")
    return fig, lines

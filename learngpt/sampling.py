"""Sampling's values and maths, the same for every backend: the last position's logits divided by the
temperature, then (top_k given) every logit below the k-th largest set to -inf, then one draw from the softmax
with the backend's own rng. Each backend's LanguageModel.sampling_logits is this maths in its framework;
`probabilities` is it in numpy (float64), what the tests compare both backends' draws with."""
from __future__ import annotations

import math

from typing import Any

import numpy as np

from learngpt.data import CharTokenizer
from learngpt.errors import InputError


def check(temperature: float, top_k: int | None, vocab_size: int) -> None:
    """InputError unless temperature is a finite number > 0 and top_k is None or an integer in [1, vocab_size]."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
            or temperature <= 0:
        raise InputError(f"temperature must be a finite number > 0 (1 samples the model's own distribution, "
                         f"towards 0 approaches greedy), got {temperature!r}")
    if top_k is None:
        return
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= vocab_size:
        raise InputError(f"top_k must be an integer in [1, {vocab_size}] (the vocabulary's size), got {top_k!r}")


def probabilities(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    """What a sample is drawn from: softmax(logits / temperature) over the top_k largest logits, (B, V) float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature  # (B, V)
    if top_k is not None:
        kth = np.sort(z, axis=-1)[:, -top_k][:, None]  # (B, 1): the k-th largest
        z = np.where(z < kth, -np.inf, z)  # (B, V)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)  # (B, V)
    return p / p.sum(axis=-1, keepdims=True)


def text(backend: Any, model: Any, vocab: str, n: int, prompt: str = "\n", seed: int = 0, greedy: bool = False,
         temperature: float = 1.0, top_k: int | None = None) -> str:
    """prompt followed by n generated characters from `backend` (a learngpt_lab Backend): greedy, or sampled
    with its own rng from seed as this module's maths says."""
    check(temperature, top_k, len(vocab))  # before the prompt is encoded
    tok = CharTokenizer(vocab)
    idx = tok.encode(prompt)[None, :]  # (1, T0); InputError names characters outside the vocabulary
    if idx.shape[1] == 0:
        raise InputError("the prompt is empty; give at least one character")
    out = backend.complete(model, idx.astype(np.int64), n, greedy=greedy, seed=seed, temperature=temperature,
                           top_k=top_k)
    return tok.decode(out[0])

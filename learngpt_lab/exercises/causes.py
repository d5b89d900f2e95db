"""Likely causes of a failed forward, in the learner's terms: for each exercise, the mistakes a learner makes
(a biased variance, the epsilon, a missing scale, the mask, a forgotten residual, ...), each written as what the
reference would compute with that mistake. The learner's output is compared with each: a mistake is named only
when the learner's numbers are that mistake's (far closer to it than to the reference), never on a guess.

Each variant is a function (reference torch module, input tensor) -> the output tensor (a GPT's logits), run in
float64 on the reference's own weights, so it needs no framework of the learner's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

CLOSER = 0.1  # the learner's output is a variant's when it is at least 10 times closer to it than to the reference
FITS_RELATIVE = 1e-4  # ... and within float32's roundoff of it, relative to the output's scale


@dataclass(frozen=True)
class Variant:
    hint: str
    run: Callable


def _mask(T, like):
    import torch
    return torch.tril(torch.ones(T, T, dtype=torch.bool, device=like.device))


def _heads_mean(x, causal=True, normalise=True, future=False):
    import torch
    T = x.shape[1]
    tril = _mask(T, x).to(x.dtype)
    if future:
        tril = tril.T
    if not causal:
        tril = torch.ones_like(tril)
    wei = tril / tril.sum(1, keepdim=True) if normalise else tril
    return wei @ x


def _attention(m, x, scale="embed", mask=True, axis=-1, store=True):
    import torch
    import torch.nn.functional as F
    B, T, C = x.shape
    k, q, v = m.key(x), m.query(x), m.value(x)
    wei = q @ k.transpose(-2, -1)
    wei = wei * {"embed": C ** -0.5, "head": k.shape[-1] ** -0.5, "none": 1.0, "sqrt": C ** 0.5}[scale]
    if mask:
        wei = wei.masked_fill(~_mask(T, x), float("-inf"))
    wei = F.softmax(wei, dim=axis)
    return torch.nan_to_num(wei) @ v


def _ln(m, x, biased=False, eps=None, inside=False, axis=-1):
    eps = m.eps if eps is None else eps
    mean = x.mean(axis, keepdim=True)
    var = x.var(axis, keepdim=True, correction=0 if biased else 1)
    std = (var + eps).sqrt() if inside else var.sqrt() + eps
    return m.gamma * (x - mean) / std + m.beta


def _ffwd(m, x, act="relu", last_act=False):
    import torch
    import torch.nn.functional as F
    first, second = m.net[0], m.net[2]
    h = first(x)
    h = {"relu": torch.relu, "gelu": F.gelu, "none": lambda t: t}[act](h)
    y = second(h)
    return torch.relu(y) if last_act else y


def _gpt(m, idx, positions=True, contextualizer=True):
    B, T = idx.shape
    x = m.token_embedding_table(idx)
    if positions:
        x = x + m.positions(T, x)
    if contextualizer:
        x = m.contextualizer(x)
    return m.lm_head(x)


def _pe(m, x, op="add", version=None):
    import torch
    from learngpt.positions import encoding
    B, T, C = x.shape
    pe = torch.tensor(encoding(m.version if version is None else version, m.block_size, C)[:T], dtype=x.dtype)
    return x * pe if op == "mul" else x + pe


def _block(m, x, kind):
    if kind == "v1":
        return m.ffwd(m.head(x))
    if kind == "v2":
        x = x + m.head(x)
        return x + m.ffwd(x)
    if kind == "swapped":
        return m.head(m.ffwd(x))
    if kind == "residual-attention-only":
        return m.ffwd(x + m.head(x))
    if kind == "residual-ffwd-only":
        x = m.head(x)
        return x + m.ffwd(x)
    if kind == "post-norm":
        x = m.ln1(x + m.head(x))
        return m.ln2(x + m.ffwd(x))
    if kind == "norm-outside":  # LayerNorm on the branch's output
        x = x + m.ln1(m.head(x))
        return x + m.ln2(m.ffwd(x))
    if kind == "norm-no-residual":
        x = m.head(m.ln1(x))
        return m.ffwd(m.ln2(x))
    if kind == "one-norm":
        x = x + m.head(m.ln1(x))
        return x + m.ffwd(m.ln1(x))
    raise ValueError(kind)


RESIDUAL = "a residual forgotten: each branch's output is added to its input, x = x + branch(x)"
VARIANTS: dict[str, list[Variant]] = {
    "HeadVer1": [
        Variant("every position averages the whole sequence, the future too: the mean must stop at position t "
                "(x[:, :t + 1])", lambda m, x: _heads_mean(x, causal=False)),
        Variant("a running sum, not a mean: divide by the number of positions averaged (t + 1)",
                lambda m, x: _heads_mean(x, normalise=False)),
        Variant("the mean runs over the future (positions t..T-1), not the past",
                lambda m, x: _heads_mean(x, future=True)),
    ],
    "HeadVer4": [
        Variant("the 1/sqrt scale is missing: the scores q @ k^T are multiplied by embed_size ** -0.5",
                lambda m, x: _attention(m, x, "none")),
        Variant("the scores are scaled by head_size ** -0.5 (the paper's and nanoGPT's scale); the curriculum's "
                "is embed_size ** -0.5 (C, the input's width)", lambda m, x: _attention(m, x, "head")),
        Variant("the scores are multiplied by sqrt(embed_size); the scale is embed_size ** -0.5, a division",
                lambda m, x: _attention(m, x, "sqrt")),
        Variant("the causal mask is missing: the future's scores must be -inf before the softmax",
                lambda m, x: _attention(m, x, mask=False)),
        Variant("the softmax runs over the wrong axis: each row (the last axis, the keys) must sum to 1",
                lambda m, x: _attention(m, x, axis=-2)),
    ],
    "LayerNorm": [
        Variant("biased variance: the curriculum's LayerNorm uses the unbiased std (divides by C - 1): torch "
                "x.std(dim=-1, correction=1), jnp x.std(axis=-1, ddof=1); x.var() in JAX and torch's nn.LayerNorm "
                "divide by C", lambda m, x: _ln(m, x, biased=True)),
        Variant("the epsilon is inside the square root (torch's nn.LayerNorm); the curriculum's adds eps to the "
                "std: (x - mean) / (std + eps)", lambda m, x: _ln(m, x, inside=True)),
        Variant("the epsilon is 1e-5 (torch's nn.LayerNorm default); the curriculum's is the eps argument, 1e-6",
                lambda m, x: _ln(m, x, eps=1e-5)),
        Variant("normalised over the wrong axis: the statistics run over the features, the last axis",
                lambda m, x: _ln(m, x, axis=-2)),
    ],
    "FeedForward": [
        Variant("the ReLU is missing between the two linear layers", lambda m, x: _ffwd(m, x, "none")),
        Variant("GELU where the curriculum has ReLU", lambda m, x: _ffwd(m, x, "gelu")),
        Variant("a ReLU after the second linear layer too; the output is the second layer's, unactivated",
                lambda m, x: _ffwd(m, x, last_act=True)),
    ],
    "MultiHeadVer1": [
        Variant("the projection is missing: the concatenated heads go through self.proj",
                lambda m, x: __import__("torch").cat([h(x) for h in m.heads], dim=-1)),
        Variant("the heads are concatenated in reverse order", lambda m, x: m.proj(
            __import__("torch").cat([h(x) for h in reversed(m.heads)], dim=-1))),
    ],
    "BlockVer1": [
        Variant("residual connections added: BlockVer1 has none (that is BlockVer2)", lambda m, x: _block(m, x, "v2")),
        Variant("feed-forward first: attention comes first, then the feed-forward",
                lambda m, x: _block(m, x, "swapped")),
    ],
    "BlockVer2": [
        Variant(RESIDUAL + " (both are missing)", lambda m, x: _block(m, x, "v1")),
        Variant(RESIDUAL + " (around the feed-forward)", lambda m, x: _block(m, x, "residual-attention-only")),
        Variant(RESIDUAL + " (around the attention)", lambda m, x: _block(m, x, "residual-ffwd-only")),
    ],
    "BlockVer3": [
        Variant("LayerNorm after each sum (post-norm, the reference solution's BlockVer3PostNorm); the curriculum's "
                "figure normalises each branch's input: x + head(ln1(x))", lambda m, x: _block(m, x, "post-norm")),
        Variant("LayerNorm on the branch's output; it goes on the branch's input: x + head(ln1(x))",
                lambda m, x: _block(m, x, "norm-outside")),
        Variant(RESIDUAL, lambda m, x: _block(m, x, "norm-no-residual")),
        Variant("ln1 used twice: the feed-forward's input goes through ln2", lambda m, x: _block(m, x, "one-norm")),
    ],
    "PositionalEncoding": [
        Variant("x is multiplied by the table; the encoding is added: x + PE[:T]", lambda m, x: _pe(m, x, "mul")),
        Variant("encoding 4 whatever the version: use self.version", lambda m, x: _pe(m, x, version=4)),
    ],
    "GPTVer2": [
        Variant("positions added: GPTVer2 has none (that is GPTVer3)", lambda m, x: _gpt(m, x)),
        Variant("the contextualizer is skipped: the embeddings go through it before lm_head",
                lambda m, x: _gpt(m, x, positions=False, contextualizer=False)),
    ],
    "GPTVer3": [
        Variant("the positions are missing: x = tok_emb + the position table",
                lambda m, x: _gpt(m, x, positions=False)),
        Variant("the contextualizer is skipped: the embeddings go through it before lm_head",
                lambda m, x: _gpt(m, x, contextualizer=False)),
    ],
    "GPTVer1": [
        Variant("the logits are softmax probabilities; the model returns the table's rows as they are (the loss "
                "applies its own log-softmax)",
                lambda m, x: __import__("torch").softmax(m.token_embedding_table(x), -1)),
    ],
}
VARIANTS["HeadVer2"] = VARIANTS["HeadVer1"]
VARIANTS["HeadVer3"] = VARIANTS["HeadVer1"] + [
    Variant("the softmax runs over the wrong axis: each row (the last axis) must sum to 1",
            lambda m, x: (lambda w: __import__("torch").nan_to_num(w) @ x)(__import__("torch").softmax(
                __import__("torch").zeros(x.shape[1], x.shape[1], dtype=x.dtype).masked_fill(
                    ~_mask(x.shape[1], x), float("-inf")), dim=0))),
]

# shown when the learner's forward raises, or returns another shape than the reference
SHAPES = {
    "MultiHeadVer1": "the heads' outputs are concatenated along the feature axis, the last one: n_heads x (B, T, hs) "
                     "-> (B, T, C) (torch.cat(..., dim=-1), jnp.concatenate(..., axis=-1))",
    "HeadVer4": "k.transpose(-2, -1) (jnp: swapaxes(-2, -1)) turns (B, T, hs) into (B, hs, T); the mask is the "
                "first T rows and columns of the (block_size, block_size) triangle",
    "HeadVer2": "the triangle is (T, T), T the input's length (at most block_size): slice it [:T, :T]",
    "HeadVer3": "the triangle is (T, T), T the input's length (at most block_size): slice it [:T, :T]",
    "PositionalEncoding": "the table has block_size rows: add its first T, table[:T]",
    "GPTVer3": "the position table has block_size rows: add its first T",
}


def likely(exercise: str, reference, x: np.ndarray, got: np.ndarray, want: np.ndarray) -> list[str]:
    """The variants of `exercise` whose output the learner's `got` is (float64, the reference's weights)."""
    import torch

    out = []
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    if want.shape != got.shape:
        return out
    to_reference = float(np.max(np.abs(got - want)))
    scale = max(float(np.max(np.abs(want))), 1e-12)
    inp = torch.as_tensor(x)
    for variant in VARIANTS.get(exercise, []):
        with torch.no_grad():
            try:
                alt = variant.run(reference, inp)
            except Exception:  # a variant that does not apply to this input (a shape it cannot take)
                continue
        alt = np.asarray(alt.detach().numpy(), np.float64)
        if alt.shape != got.shape:
            continue
        dist = float(np.max(np.abs(np.where(np.isfinite(alt) & np.isfinite(got), alt - got, 0.0))))
        if dist <= CLOSER * to_reference and dist <= FITS_RELATIVE * scale:
            out.append(variant.hint)
    return out

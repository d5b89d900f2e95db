"""GPTVer3: week 1's language model, token embeddings plus fixed sinusoidal positions around any
contextualizer."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from learngpt import checks
from learngpt.positions import sinusoidal
from learngpt_nnx.layers import embedding, linear
from learngpt_nnx.lm import LanguageModel


class GPTVer3(LanguageModel):
    """Token embedding + sinusoidal position encodings -> contextualizer -> lm_head."""

    def __init__(self, contextualizer: nnx.Module, vocab_size: int, block_size: int, embed_size: int, *,
                 rngs: nnx.Rngs):
        checks.check_sizes(type(self).__name__, vocab_size=vocab_size, block_size=block_size,
                           embed_size=embed_size)
        self.vocab_size, self.block_size, self.embed_size = vocab_size, block_size, embed_size
        self.token_embedding_table = embedding(vocab_size, embed_size, rngs=rngs)
        self.contextualizer = contextualizer
        self.lm_head = linear(embed_size, vocab_size, rngs=rngs)

    def positions(self, T: int, like: jax.Array) -> jax.Array:
        table = sinusoidal(self.block_size, self.embed_size)[:T]  # (T, C) float64 numpy
        return jnp.asarray(table, dtype=like.dtype)  # (T, C)

    def __call__(self, idx: jax.Array, targets: jax.Array | None = None):
        idx = self.check_tokens(idx)
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)  # (B, T) -> (B, T, C)
        x = tok_emb + self.positions(T, tok_emb)  # (B, T, C) + (T, C) -> (B, T, C)
        x = self.contextualizer(x)  # (B, T, C) -> (B, T, C)
        logits = self.lm_head(x)  # (B, T, C) @ (C, V) -> (B, T, V)
        return logits, self.loss(logits, targets)

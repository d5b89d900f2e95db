"""GPTVer4: GPTVer3 with learned position embeddings and a final LayerNorm, the curriculum's NanoGPT."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from learngpt_nnx.gpt_v3 import GPTVer3
from learngpt_nnx.layers import embedding, library_layer_norm


class GPTVer4(GPTVer3):
    """Token + learned position embeddings -> contextualizer -> LayerNorm(eps=1e-5) -> lm_head."""

    def __init__(self, contextualizer: nnx.Module, vocab_size: int, block_size: int, embed_size: int, *,
                 rngs: nnx.Rngs):
        super().__init__(contextualizer, vocab_size, block_size, embed_size, rngs=rngs)
        self.position_embedding_table = embedding(block_size, embed_size, rngs=rngs)
        self.ln_f = library_layer_norm(embed_size, eps=1e-5, rngs=rngs)

    def __call__(self, idx: jax.Array, targets: jax.Array | None = None):
        idx = self.check_tokens(idx)
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)  # (B, T) -> (B, T, C)
        pos_emb = self.position_embedding_table(jnp.arange(T))  # (T,) -> (T, C)
        x = tok_emb + pos_emb  # (B, T, C) + (T, C) -> (B, T, C)
        x = self.contextualizer(x)  # (B, T, C) -> (B, T, C)
        x = self.ln_f(x)  # (B, T, C)
        logits = self.lm_head(x)  # (B, T, C) @ (C, V) -> (B, T, V)
        return logits, self.loss(logits, targets)

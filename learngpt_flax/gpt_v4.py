"""GPTVer4: GPTVer3 with learned position embeddings and a final LayerNorm, the curriculum's NanoGPT."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from learngpt_flax.gpt_v3 import GPTVer3
from learngpt_flax.layers import embedding, library_layer_norm


class GPTVer4(GPTVer3):
    """Token + learned position embeddings -> contextualizer -> LayerNorm(eps=1e-5) -> lm_head."""

    def setup(self):
        super().setup()
        self.position_embedding_table = embedding(self.block_size, self.embed_size)
        self.ln_f = library_layer_norm(self.embed_size, eps=1e-5)

    def __call__(self, idx: jax.Array, targets: jax.Array | None = None, deterministic: bool = True):
        idx = self.check_tokens(idx)
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)  # (B, T) -> (B, T, C)
        pos_emb = self.position_embedding_table(jnp.arange(T))  # (T,) -> (T, C)
        x = tok_emb + pos_emb  # (B, T, C) + (T, C) -> (B, T, C)
        x = self.contextualizer(x, deterministic)  # (B, T, C) -> (B, T, C)
        x = self.ln_f(x)  # (B, T, C)
        logits = self.lm_head(x)  # (B, T, C) @ (C, V) -> (B, T, V)
        return logits, self.loss(logits, targets)

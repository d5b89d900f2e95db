"""GPTVer2: token embeddings, a contextualizer that mixes positions, and lm_head; no position information yet
(GPTVer3 adds it)."""
from __future__ import annotations

import jax

from learngpt_nnx.gpt_v3 import GPTVer3


class GPTVer2(GPTVer3):
    """Token embedding -> contextualizer -> lm_head: GPTVer3's layers, used without positions."""

    def __call__(self, idx: jax.Array, targets: jax.Array | None = None):
        idx = self.check_tokens(idx)
        tok_emb = self.token_embedding_table(idx)  # (B, T) -> (B, T, C)
        x = self.contextualizer(tok_emb)  # (B, T, C) -> (B, T, C)
        logits = self.lm_head(x)  # (B, T, C) @ (C, V) -> (B, T, V)
        return logits, self.loss(logits, targets)

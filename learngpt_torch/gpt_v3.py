"""GPTVer3: week 1's language model, token embeddings plus fixed sinusoidal positions around any
contextualizer."""
from __future__ import annotations

import torch
from torch import nn

from learngpt import checks
from learngpt.positions import sinusoidal
from learngpt_torch.layers import embedding, linear
from learngpt_torch.lm import LanguageModel


class GPTVer3(LanguageModel):
    """Token embedding + sinusoidal position encodings -> contextualizer -> lm_head."""

    def __init__(self, contextualizer: nn.Module, vocab_size: int, block_size: int, embed_size: int):
        super().__init__()
        checks.check_sizes(type(self).__name__, vocab_size=vocab_size, block_size=block_size,
                           embed_size=embed_size)
        self.vocab_size, self.block_size, self.embed_size = vocab_size, block_size, embed_size
        self.token_embedding_table = embedding(vocab_size, embed_size)
        self.contextualizer = contextualizer
        self.lm_head = linear(embed_size, vocab_size)
        # (block_size, C) float64, made once: a buffer moves with the model (.to(device, dtype)) and, not
        # persistent, stays out of the state dict
        self.register_buffer("sinusoid", torch.tensor(sinusoidal(block_size, embed_size)), persistent=False)

    def positions(self, T: int, like: torch.Tensor) -> torch.Tensor:
        return self.sinusoid[:T].to(like.dtype)  # (T, C): a no-op where the model's dtype is like's

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        idx = self.check_tokens(idx)
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)  # (B, T) -> (B, T, C)
        x = tok_emb + self.positions(T, tok_emb)  # (B, T, C) + (T, C) -> (B, T, C)
        x = self.contextualizer(x)  # (B, T, C) -> (B, T, C)
        logits = self.lm_head(x)  # (B, T, C) @ (C, V) -> (B, T, V)
        return logits, self.loss(logits, targets)

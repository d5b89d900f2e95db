"""GPTVer1: week 1's bigram model, the next token read off a (vocab, vocab) table from the current token alone
(the baseline every later GPT must beat)."""
from __future__ import annotations

import torch

from learngpt import checks
from learngpt_torch.layers import embedding
from learngpt_torch.lm import LanguageModel


class GPTVer1(LanguageModel):
    """Bigram language model: row `token` of the embedding table is the logits of the token that follows."""

    def __init__(self, vocab_size: int, block_size: int):
        super().__init__()
        checks.check_sizes("GPTVer1", vocab_size=vocab_size, block_size=block_size)
        self.vocab_size, self.block_size = vocab_size, block_size
        self.token_embedding_table = embedding(vocab_size, vocab_size)

    def context(self, idx: torch.Tensor) -> torch.Tensor:
        return idx[:, -1:]  # (B, T) -> (B, 1): a bigram reads one token back

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        idx = self.check_tokens(idx)
        logits = self.token_embedding_table(idx)  # (B, T) -> (B, T, V)
        return logits, self.loss(logits, targets)

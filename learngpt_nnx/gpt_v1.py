"""GPTVer1: week 1's bigram model, the next token read off a (vocab, vocab) table from the current token alone
(the baseline every later GPT must beat)."""
from __future__ import annotations

import jax
from flax import nnx

from learngpt import checks
from learngpt_nnx.layers import embedding
from learngpt_nnx.lm import LanguageModel


class GPTVer1(LanguageModel):
    """Bigram language model: row `token` of the embedding table is the logits of the token that follows."""

    def __init__(self, vocab_size: int, block_size: int, *, rngs: nnx.Rngs):
        checks.check_sizes("GPTVer1", vocab_size=vocab_size, block_size=block_size)
        self.vocab_size, self.block_size = vocab_size, block_size
        self.token_embedding_table = embedding(vocab_size, vocab_size, rngs=rngs)

    def context(self, idx: jax.Array) -> jax.Array:
        return idx[:, -1:]  # (B, T) -> (B, 1): a bigram reads one token back

    def __call__(self, idx: jax.Array, targets: jax.Array | None = None):
        idx = self.check_tokens(idx)
        logits = self.token_embedding_table(idx)  # (B, T) -> (B, T, V)
        return logits, self.loss(logits, targets)

"""GPTVer1: week 1's bigram model, the next token read off a (vocab, vocab) table from the current token alone (the baseline every later GPT must beat)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from learngpt import checks
from learngpt_flax.layers import embedding


class GPTVer1(nn.Module):
    """Bigram language model: row `token` of the embedding table is the logits of the token that follows."""

    vocab_size: int
    block_size: int

    def setup(self):
        self.token_embedding_table = embedding(self.vocab_size, self.vocab_size)

    def check_tokens(self, idx: jax.Array) -> jax.Array:
        checks.check_sequence(idx.shape, self.block_size, type(self).__name__, rank=2)
        if idx.size and not isinstance(idx, jax.core.Tracer):
            ids = np.asarray(idx)  # concrete: checked here, like torch
            checks.check_token_range(int(ids.min()), int(ids.max()), self.vocab_size)
        # Under jit the ids are not known: JAX would clamp or wrap a bad id silently; send it out of range,
        # where the lookup (jnp.take, mode "fill") returns NaN, so a bad id poisons the loss instead.
        return jnp.where(idx < 0, self.vocab_size, idx)  # (B, T)

    def loss(self, logits: jax.Array, targets: jax.Array | None) -> jax.Array | None:
        if targets is None:
            return None
        targets = self.check_tokens(targets)
        B, T, V = logits.shape
        return optax.softmax_cross_entropy_with_integer_labels(logits.reshape(B * T, V), targets.reshape(B * T)).mean()  # (B*T, V), (B*T,) -> ()

    def __call__(self, idx: jax.Array, targets: jax.Array | None = None, deterministic: bool = True):
        idx = self.check_tokens(idx)
        logits = self.token_embedding_table(idx)  # (B, T) -> (B, T, V)
        return logits, self.loss(logits, targets)

    def generate(self, idx: jax.Array, max_new_tokens: int, greedy: bool = False) -> jax.Array:
        """Append max_new_tokens tokens to idx (B, T0), each drawn from the last token only ('sample' rng)."""
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -1:])  # (B, 1) -> (B, 1, V): a bigram reads one token back
            logits = logits[:, -1, :]  # (B, V)
            if greedy:
                idx_next = logits.argmax(axis=-1, keepdims=True)  # (B, 1)
            else:
                idx_next = jax.random.categorical(self.make_rng("sample"), logits, axis=-1)[:, None]  # (B, 1)
            idx = jnp.concatenate((idx, idx_next.astype(idx.dtype)), axis=1)  # (B, T + 1)
        return idx

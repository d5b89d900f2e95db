"""GPTVer3: week 1's language model, token embeddings plus fixed sinusoidal positions around any contextualizer."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from learngpt import checks
from learngpt.positions import sinusoidal
from learngpt_flax.layers import embedding, linear


class GPTVer3(nn.Module):
    """Token embedding + sinusoidal position encodings -> contextualizer -> lm_head."""

    contextualizer: nn.Module
    vocab_size: int
    block_size: int
    embed_size: int

    def setup(self):
        self.token_embedding_table = embedding(self.vocab_size, self.embed_size)
        self.lm_head = linear(self.embed_size, self.vocab_size)

    def check_tokens(self, idx: jax.Array) -> jax.Array:
        checks.check_sequence(idx.shape, self.block_size, type(self).__name__, rank=2)
        if idx.size and not isinstance(idx, jax.core.Tracer):
            ids = np.asarray(idx)  # concrete: checked here, like torch
            checks.check_token_range(int(ids.min()), int(ids.max()), self.vocab_size)
        # Under jit the ids are not known: JAX would clamp or wrap a bad id silently; send it out of range,
        # where the lookup (jnp.take, mode "fill") returns NaN, so a bad id poisons the loss instead.
        return jnp.where(idx < 0, self.vocab_size, idx)  # (B, T)

    def positions(self, T: int, like: jax.Array) -> jax.Array:
        return jnp.asarray(sinusoidal(self.block_size, self.embed_size)[:T], dtype=like.dtype)  # (T, C)

    def loss(self, logits: jax.Array, targets: jax.Array | None) -> jax.Array | None:
        if targets is None:
            return None
        targets = self.check_tokens(targets)
        B, T, V = logits.shape
        return optax.softmax_cross_entropy_with_integer_labels(logits.reshape(B * T, V), targets.reshape(B * T)).mean()  # (B*T, V), (B*T,) -> ()

    def __call__(self, idx: jax.Array, targets: jax.Array | None = None, deterministic: bool = True):
        idx = self.check_tokens(idx)
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)  # (B, T) -> (B, T, C)
        x = tok_emb + self.positions(T, tok_emb)  # (B, T, C) + (T, C) -> (B, T, C)
        x = self.contextualizer(x, deterministic)  # (B, T, C) -> (B, T, C)
        logits = self.lm_head(x)  # (B, T, C) @ (C, V) -> (B, T, V)
        return logits, self.loss(logits, targets)

    def generate(self, idx: jax.Array, max_new_tokens: int, greedy: bool = False) -> jax.Array:
        """Append max_new_tokens tokens to idx (B, T0): sampled from the 'sample' rng, or the argmax when greedy."""
        idx = jnp.asarray(idx)  # (B, T0): numpy ids become a JAX array (int32 unless x64 is on)
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -self.block_size:]  # (B, T) -> (B, min(T, block_size))
            logits, _ = self(idx_cond)  # (B, T', V)
            logits = logits[:, -1, :]  # (B, V): the last position only
            if greedy:
                idx_next = logits.argmax(axis=-1, keepdims=True)  # (B, 1)
            else:
                idx_next = jax.random.categorical(self.make_rng("sample"), logits, axis=-1)[:, None]  # (B, 1)
            idx = jnp.concatenate((idx, idx_next.astype(idx.dtype)), axis=1)  # (B, T + 1)
        return idx

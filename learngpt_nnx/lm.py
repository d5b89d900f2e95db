"""LanguageModel: what every GPT shares, the token check, the loss and generation one token at a time."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from learngpt import checks, sampling
from learngpt_nnx import checked


class LanguageModel(nnx.Module):
    """Base of GPTVer1..4: a subclass adds layers and the forward pass (idx, targets) -> (logits, loss)."""

    def check_tokens(self, idx: jax.Array) -> jax.Array:
        checks.check_sequence(idx.shape, self.block_size, type(self).__name__, rank=2)
        checks.check_token_dtype(idx.dtype)
        # Reading the ids back to the host is a synchronisation: skipped inside checks.ids_checked (the caller
        # checked them) and in a compiled program (checked.checked, or the caller on the host, checks them).
        if idx.size and not isinstance(idx, jax.core.Tracer) and checks.ids_to_check():
            ids = np.asarray(idx)  # concrete: checked here, like torch
            checks.check_token_ids(ids.dtype, self.vocab_size, int(ids.min()), int(ids.max()))
        else:
            checked.on_device(idx, self.vocab_size)
        # JAX's gather would wrap a negative id onto a real row: sent past the end, the lookup ("fill") is NaN
        return jnp.where(idx < 0, self.vocab_size, idx)  # (B, T)

    def loss(self, logits: jax.Array, targets: jax.Array | None) -> jax.Array | None:
        if targets is None:
            return None
        targets = self.check_tokens(targets)
        B, T, V = logits.shape
        return optax.softmax_cross_entropy_with_integer_labels(
            logits.reshape(B * T, V), targets.reshape(B * T)).mean()  # (B*T, V), (B*T,) -> ()

    def context(self, idx: jax.Array) -> jax.Array:
        """What the next token is predicted from: the last block_size tokens."""
        return idx[:, -self.block_size:]  # (B, T) -> (B, min(T, block_size))

    def sampling_logits(self, logits: jax.Array, temperature: float = 1.0,
                        top_k: int | None = None) -> jax.Array:
        """What a sample is drawn from (learngpt/sampling.py): logits / temperature, top_k largest kept."""
        logits = logits / temperature  # (B, V)
        if top_k is not None:
            kth = jax.lax.top_k(logits, top_k)[0][:, -1:]  # (B, 1): the k-th largest
            logits = jnp.where(logits < kth, -jnp.inf, logits)  # (B, V)
        return logits

    def generate(self, idx: jax.Array, max_new_tokens: int, greedy: bool = False, temperature: float = 1.0,
                 top_k: int | None = None, rngs: nnx.Rngs | None = None) -> jax.Array:
        """Append max_new_tokens tokens to idx (B, T0): sampled from rngs' 'sample' stream, or the argmax."""
        checks.check_new_tokens(max_new_tokens)
        sampling.check(temperature, top_k, self.vocab_size)
        idx = jnp.asarray(idx)  # (B, T0): numpy ids become a JAX array (int32 unless x64 is on)
        self.check_tokens(self.context(idx))  # the prompt, once: every id appended after it is in range
        with checks.ids_checked():
            for _ in range(max_new_tokens):
                logits, _ = self(self.context(idx))  # (B, T', V)
                logits = logits[:, -1, :]  # (B, V): the last position only
                if greedy:
                    idx_next = logits.argmax(axis=-1, keepdims=True)  # (B, 1)
                else:
                    logits = self.sampling_logits(logits, temperature, top_k)  # (B, V)
                    idx_next = jax.random.categorical(rngs.sample(), logits, axis=-1)[:, None]  # (B, 1)
                idx = jnp.concatenate((idx, idx_next.astype(idx.dtype)), axis=1)  # (B, T + 1)
        return idx

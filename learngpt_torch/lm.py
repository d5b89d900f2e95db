"""LanguageModel: what every GPT shares, the token check, the loss and generation one token at a time."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from learngpt import checks, sampling
from learngpt_torch import checked


class LanguageModel(nn.Module):
    """Base of GPTVer1..4: a subclass adds layers and the forward pass (idx, targets) -> (logits, loss)."""

    def check_tokens(self, idx: torch.Tensor) -> torch.Tensor:
        checks.check_sequence(idx.shape, self.block_size, type(self).__name__, rank=2)
        checks.check_token_dtype(idx.dtype)
        # Reading the ids back to the host is a synchronisation: skipped inside checks.ids_checked (the caller
        # checked them) and in a compiled program (checked.checked, or the caller on the host, checks them).
        if idx.numel() and not torch.compiler.is_compiling() and checks.ids_to_check():
            checks.check_token_ids(idx.dtype, self.vocab_size, int(idx.min()), int(idx.max()))
        else:
            checked.on_device(idx, self.vocab_size)
        return idx  # (B, T): torch's lookup raises on a bad id, nothing to remap

    def loss(self, logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
        if targets is None:
            return None
        targets = self.check_tokens(targets)
        B, T, V = logits.shape
        return F.cross_entropy(
            logits.reshape(B * T, V), targets.reshape(B * T).long())  # (B*T, V), (B*T,) -> (): int64 targets

    def context(self, idx: torch.Tensor) -> torch.Tensor:
        """What the next token is predicted from: the last block_size tokens."""
        return idx[:, -self.block_size:]  # (B, T) -> (B, min(T, block_size))

    def sampling_logits(self, logits: torch.Tensor, temperature: float = 1.0,
                        top_k: int | None = None) -> torch.Tensor:
        """What a sample is drawn from (learngpt/sampling.py): logits / temperature, top_k largest kept."""
        logits = logits / temperature  # (B, V)
        if top_k is not None:
            kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest
            logits = logits.masked_fill(logits < kth, float("-inf"))  # (B, V)
        return logits

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, greedy: bool = False, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Append max_new_tokens tokens to idx (B, T0): sampled, or the argmax when greedy."""
        checks.check_new_tokens(max_new_tokens)
        sampling.check(temperature, top_k, self.vocab_size)
        self.check_tokens(self.context(idx))  # the prompt, once: every id appended after it is in range
        with checks.ids_checked():
            for _ in range(max_new_tokens):
                logits, _ = self(self.context(idx))  # (B, T', V)
                logits = logits[:, -1, :]  # (B, V): the last position only
                if greedy:
                    idx_next = logits.argmax(axis=-1, keepdims=True)  # (B, 1)
                else:
                    logits = self.sampling_logits(logits, temperature, top_k)  # (B, V)
                    idx_next = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)  # (B, 1)
                idx = torch.cat((idx, idx_next), dim=1)  # (B, T + 1)
        return idx

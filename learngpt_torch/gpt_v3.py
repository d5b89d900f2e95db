"""GPTVer3: week 1's language model, token embeddings plus fixed sinusoidal positions around any contextualizer."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from learngpt import checks
from learngpt.positions import sinusoidal
from learngpt_torch.layers import embedding, linear


class GPTVer3(nn.Module):
    """Token embedding + sinusoidal position encodings -> contextualizer -> lm_head."""

    def __init__(self, contextualizer: nn.Module, vocab_size: int, block_size: int, embed_size: int):
        super().__init__()
        self.vocab_size, self.block_size, self.embed_size = vocab_size, block_size, embed_size
        self.token_embedding_table = embedding(vocab_size, embed_size)
        self.contextualizer = contextualizer
        self.lm_head = linear(embed_size, vocab_size)

    def check_tokens(self, idx: torch.Tensor) -> None:
        checks.check_sequence(idx.shape, self.block_size, type(self).__name__, rank=2)
        # Under torch.compile the check would read the ids back to the host and break the graph in two: there,
        # as under jax.jit, it is skipped, and a bad id is left to the compiled lookup.
        if idx.numel() and not torch.compiler.is_compiling():
            checks.check_token_range(int(idx.min()), int(idx.max()), self.vocab_size)

    def positions(self, T: int, like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(sinusoidal(self.block_size, self.embed_size)[:T], dtype=like.dtype, device=like.device)  # (T, C)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
        if targets is None:
            return None
        self.check_tokens(targets)
        B, T, V = logits.shape
        return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))  # (B*T, V), (B*T,) -> ()

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        self.check_tokens(idx)
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)  # (B, T) -> (B, T, C)
        x = tok_emb + self.positions(T, tok_emb)  # (B, T, C) + (T, C) -> (B, T, C)
        x = self.contextualizer(x)  # (B, T, C) -> (B, T, C)
        logits = self.lm_head(x)  # (B, T, C) @ (C, V) -> (B, T, V)
        return logits, self.loss(logits, targets)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, greedy: bool = False,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Append max_new_tokens tokens to idx (B, T0): sampled, or the argmax when greedy."""
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -self.block_size:]  # (B, T) -> (B, min(T, block_size))
            logits, _ = self(idx_cond)  # (B, T', V)
            logits = logits[:, -1, :]  # (B, V): the last position only
            if greedy:
                idx_next = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                probs = F.softmax(logits, dim=-1)  # (B, V)
                idx_next = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat((idx, idx_next), dim=1)  # (B, T + 1)
        return idx

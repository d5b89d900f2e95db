"""GPTVer1: week 1's bigram model, the next token read off a (vocab, vocab) table from the current token alone (the baseline every later GPT must beat)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from learngpt import checks
from learngpt_torch.layers import embedding


class GPTVer1(nn.Module):
    """Bigram language model: row `token` of the embedding table is the logits of the token that follows."""

    def __init__(self, vocab_size: int, block_size: int):
        super().__init__()
        self.vocab_size, self.block_size = vocab_size, block_size
        self.token_embedding_table = embedding(vocab_size, vocab_size)

    def check_tokens(self, idx: torch.Tensor) -> None:
        checks.check_sequence(idx.shape, self.block_size, type(self).__name__, rank=2)
        # Under torch.compile the check would read the ids back to the host and break the graph in two: there,
        # as under jax.jit, it is skipped, and a bad id is left to the compiled lookup.
        if idx.numel() and not torch.compiler.is_compiling():
            checks.check_token_range(int(idx.min()), int(idx.max()), self.vocab_size)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
        if targets is None:
            return None
        self.check_tokens(targets)
        B, T, V = logits.shape
        return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))  # (B*T, V), (B*T,) -> ()

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        self.check_tokens(idx)
        logits = self.token_embedding_table(idx)  # (B, T) -> (B, T, V)
        return logits, self.loss(logits, targets)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, greedy: bool = False,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Append max_new_tokens tokens to idx (B, T0), each drawn from the last token only."""
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -1:])  # (B, 1) -> (B, 1, V): a bigram reads one token back
            logits = logits[:, -1, :]  # (B, V)
            if greedy:
                idx_next = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                probs = F.softmax(logits, dim=-1)  # (B, V)
                idx_next = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat((idx, idx_next), dim=1)  # (B, T + 1)
        return idx

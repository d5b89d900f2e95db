"""BlockVer4: BlockVer3 with dropout on each residual branch's output, so the model overfits less (why:
dropout)."""
import jax
from flax import nnx

from learngpt import checks
from learngpt_nnx.feed_forward import FeedForward
from learngpt_nnx.layer_norm import LayerNorm


class BlockVer4(nnx.Module):
    """x + drop1(attention(ln1(x))), then x + drop2(feed-forward(ln2(x))); train() turns dropout on."""

    def __init__(self, head: nnx.Module, embed_size: int, dropout: float, *, rngs: nnx.Rngs):
        checks.check_dropout(dropout)
        self.head = head
        self.ffwd = FeedForward(embed_size, rngs=rngs)
        self.ln1 = LayerNorm(embed_size)
        self.ln2 = LayerNorm(embed_size)
        self.drop1 = nnx.Dropout(dropout, rngs=rngs)  # on until eval(), as torch's; draws from rngs.dropout
        self.drop2 = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + self.drop1(self.head(self.ln1(x)))  # (B,T,C) + (B,T,C)
        x = x + self.drop2(self.ffwd(self.ln2(x)))  # (B,T,C) + (B,T,C)
        return x

"""BlockVer4: BlockVer3 with dropout on each residual branch's output, so the model overfits less (why:
dropout)."""
import jax
from flax import linen as nn

from learngpt import checks
from learngpt_flax.feed_forward import FeedForward
from learngpt_flax.layer_norm import LayerNorm


class BlockVer4(nn.Module):
    """x + drop1(attention(ln1(x))), then x + drop2(feed-forward(ln2(x))); deterministic=False: dropout on."""

    head: nn.Module
    embed_size: int
    dropout: float

    def __post_init__(self):
        checks.check_dropout(self.dropout)
        super().__post_init__()

    def setup(self):
        self.ffwd = FeedForward(self.embed_size)
        self.ln1 = LayerNorm(self.embed_size)
        self.ln2 = LayerNorm(self.embed_size)
        self.drop1 = nn.Dropout(self.dropout)  # draws from the 'dropout' rng when not deterministic
        self.drop2 = nn.Dropout(self.dropout)

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        x = x + self.drop1(self.head(self.ln1(x), deterministic), deterministic)  # (B,T,C) + (B,T,C)
        x = x + self.drop2(self.ffwd(self.ln2(x)), deterministic)  # (B,T,C) + (B,T,C)
        return x

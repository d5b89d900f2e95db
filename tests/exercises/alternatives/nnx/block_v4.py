"""BlockVer4.__init__ written another way: the dropouts built first, from a loop."""
from flax import nnx

from learngpt_nnx.feed_forward import FeedForward
from learngpt_nnx.layer_norm import LayerNorm


class BlockVer4(nnx.Module):
    def __init__(self, head, embed_size: int, dropout: float, *, rngs: nnx.Rngs):
        for name in ("drop1", "drop2"):
            setattr(self, name, nnx.Dropout(rate=dropout, rngs=rngs))
        self.head = head
        self.ffwd = FeedForward(embed_size, rngs=rngs)
        self.ln1, self.ln2 = LayerNorm(embed_size), LayerNorm(embed_size)

    def __call__(self, x):
        x = x + self.drop1(self.head(self.ln1(x)))
        x = x + self.drop2(self.ffwd(self.ln2(x)))
        return x

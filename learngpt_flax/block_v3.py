"""BlockVer3: BlockVer2 with the curriculum's LayerNorm before each part (pre-norm), to keep deep stacks
trainable (why: LayerNorm)."""
import jax
from flax import linen as nn

from learngpt_flax.feed_forward import FeedForward
from learngpt_flax.layer_norm import LayerNorm


class BlockVer3(nn.Module):
    """x + attention(ln1(x)), then x + feed-forward(ln2(x))."""

    head: nn.Module
    embed_size: int

    def setup(self):
        self.ffwd = FeedForward(self.embed_size)
        self.ln1 = LayerNorm(self.embed_size)
        self.ln2 = LayerNorm(self.embed_size)

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        x = x + self.head(self.ln1(x), deterministic)  # (B, T, C) + (B, T, C) -> (B, T, C)
        x = x + self.ffwd(self.ln2(x))  # (B, T, C) + (B, T, C) -> (B, T, C)
        return x

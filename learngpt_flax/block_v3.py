"""BlockVer3: BlockVer2 with the curriculum's LayerNorm before each part (pre-norm, the curriculum's figure),
to keep deep stacks trainable (why: LayerNorm); post_norm=True normalises after each sum (the reference
solution's)."""
import jax
from flax import linen as nn

from learngpt_flax.feed_forward import FeedForward
from learngpt_flax.layer_norm import LayerNorm


class BlockVer3(nn.Module):
    """x + attention(ln1(x)), then x + feed-forward(ln2(x)); post-norm: ln1(x + attention(x)), ln2(...)."""

    head: nn.Module
    embed_size: int
    post_norm: bool = False

    def setup(self):
        self.ffwd = FeedForward(self.embed_size)
        self.ln1 = LayerNorm(self.embed_size)
        self.ln2 = LayerNorm(self.embed_size)

    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        if self.post_norm:  # the residual stream itself is normalised, after each sum
            x = self.ln1(x + self.head(x, deterministic))  # (B, T, C) + (B, T, C) -> (B, T, C)
            x = self.ln2(x + self.ffwd(x))  # (B, T, C) + (B, T, C) -> (B, T, C)
            return x
        x = x + self.head(self.ln1(x), deterministic)  # (B, T, C) + (B, T, C) -> (B, T, C)
        x = x + self.ffwd(self.ln2(x))  # (B, T, C) + (B, T, C) -> (B, T, C)
        return x

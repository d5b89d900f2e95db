"""BlockVer3: BlockVer2 with the curriculum's LayerNorm before each part (pre-norm, the curriculum's figure),
to keep deep stacks trainable (why: LayerNorm); post_norm=True normalises after each sum (the reference
solution's)."""
import jax
from flax import nnx

from learngpt_nnx.feed_forward import FeedForward
from learngpt_nnx.layer_norm import LayerNorm


class BlockVer3(nnx.Module):
    """x + attention(ln1(x)), then x + feed-forward(ln2(x)); post-norm: ln1(x + attention(x)), ln2(...)."""

    def __init__(self, head: nnx.Module, embed_size: int, post_norm: bool = False, *, rngs: nnx.Rngs):
        self.head = head
        self.ffwd = FeedForward(embed_size, rngs=rngs)
        self.ln1 = LayerNorm(embed_size)
        self.ln2 = LayerNorm(embed_size)
        self.post_norm = post_norm

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.post_norm:  # the residual stream itself is normalised, after each sum
            x = self.ln1(x + self.head(x))  # (B, T, C) + (B, T, C) -> (B, T, C)
            x = self.ln2(x + self.ffwd(x))  # (B, T, C) + (B, T, C) -> (B, T, C)
            return x
        x = x + self.head(self.ln1(x))  # (B, T, C) + (B, T, C) -> (B, T, C)
        x = x + self.ffwd(self.ln2(x))  # (B, T, C) + (B, T, C) -> (B, T, C)
        return x

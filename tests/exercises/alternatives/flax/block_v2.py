"""BlockVer2 written another way: each residual branch through one helper."""
from flax import linen as nn

from learngpt_flax.feed_forward import FeedForward


def residual(branch, x, *args):
    return x + branch(x, *args)


class BlockVer2(nn.Module):
    head: nn.Module
    embed_size: int

    def setup(self):
        self.ffwd = FeedForward(self.embed_size)

    def __call__(self, x, deterministic: bool = True):
        x = residual(self.head, x, deterministic)
        return residual(self.ffwd, x)

"""HeadVer2 written another way: the weights 1 / (t + 1) below the diagonal built with jnp.where."""
import jax.numpy as jnp
from flax import nnx


class HeadVer2(nnx.Module):
    def __init__(self, block_size: int, embed_size: int):
        self.block_size, self.embed_size = block_size, embed_size

    def __call__(self, x):
        T = x.shape[1]
        row = jnp.arange(T)[:, None]
        col = jnp.arange(T)[None, :]
        wei = jnp.where(col <= row, 1.0 / (row + 1), 0.0).astype(x.dtype)
        return jnp.einsum("ts,bsc->btc", wei, x)

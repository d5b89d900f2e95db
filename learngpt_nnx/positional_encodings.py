"""PositionalEncoding: week 1's four fixed position encodings added to x, to compare what each gives a model
that has no notion of order."""
import jax
import jax.numpy as jnp
from flax import nnx

from learngpt import checks
from learngpt.positions import check_version, encoding


class PositionalEncoding(nnx.Module):
    """x + PE[:T], PE week 1's encoding number `version` (1-4; 4 is GPTVer3's sinusoidal one); no
    parameters."""

    def __init__(self, block_size: int, embed_size: int, version: int = 4):
        checks.check_sizes("PositionalEncoding", block_size=block_size, embed_size=embed_size)
        check_version(version)  # an unknown version fails here, with the same error in both backends
        self.block_size, self.embed_size, self.version = block_size, embed_size, version

    def __call__(self, x: jax.Array) -> jax.Array:
        checks.check_features(x.shape, x.dtype, self.embed_size, "PositionalEncoding")
        checks.check_sequence(x.shape, self.block_size, "PositionalEncoding")
        B, T, C = x.shape
        table = encoding(self.version, self.block_size, C)[:T]  # (T, C) float64 numpy
        pe = jnp.asarray(table, dtype=x.dtype)  # (T, C)
        out = x + pe  # (B, T, C) + (T, C) -> (B, T, C)
        return out

"""learngpt_nnx: the same modules in flax.nnx, objects as in torch (state in attributes, rngs held)."""
from learngpt_nnx.block_v1 import BlockVer1
from learngpt_nnx.block_v2 import BlockVer2
from learngpt_nnx.block_v3 import BlockVer3
from learngpt_nnx.block_v4 import BlockVer4
from learngpt_nnx.feed_forward import FeedForward
from learngpt_nnx.gpt_v1 import GPTVer1
from learngpt_nnx.gpt_v2 import GPTVer2
from learngpt_nnx.gpt_v3 import GPTVer3
from learngpt_nnx.gpt_v4 import GPTVer4
from learngpt_nnx.head_v1 import HeadVer1
from learngpt_nnx.head_v2 import HeadVer2
from learngpt_nnx.head_v3 import HeadVer3
from learngpt_nnx.head_v4 import HeadVer4
from learngpt_nnx.layer_norm import LayerNorm
from learngpt_nnx.lm import LanguageModel
from learngpt_nnx.multi_head_v1 import MultiHeadVer1
from learngpt_nnx.multi_head_v2 import MultiHeadVer2
from learngpt_nnx.positional_encodings import PositionalEncoding
from learngpt_nnx.sequential import Sequential

__all__ = ["BlockVer1", "BlockVer2", "BlockVer3", "BlockVer4", "FeedForward", "GPTVer1", "GPTVer2", "GPTVer3",
           "GPTVer4", "HeadVer1", "HeadVer2", "HeadVer3", "HeadVer4", "LanguageModel", "LayerNorm",
           "MultiHeadVer1", "MultiHeadVer2", "PositionalEncoding", "Sequential"]

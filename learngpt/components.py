"""How to build each curriculum component from a Config, written once for both backends.

`lib` is a backend package (`learngpt_torch` or `learngpt_flax`): the classes share names and
constructor signatures, so the same recipe builds the twin modules on either side.
"""
from __future__ import annotations

from types import ModuleType
from typing import Callable

from learngpt.config import Config
from learngpt.positions import VERSIONS

# Attention modules that fill a block's `head` slot.
HEADS = ("HeadVer4", "MultiHeadVer1", "MultiHeadVer2")
BLOCKS = ("BlockVer1", "BlockVer2", "BlockVer3", "BlockVer4")
GPTS = ("GPTVer3", "GPTVer4")


def head(lib: ModuleType, name: str, cfg: Config):
    """An attention module of width embed_size: a single HeadVer4 uses head_size = embed_size."""
    if name == "HeadVer4":
        return lib.HeadVer4(cfg.block_size, cfg.embed_size, cfg.embed_size)
    if name in ("MultiHeadVer1", "MultiHeadVer2"):
        return getattr(lib, name)(cfg.block_size, cfg.embed_size, cfg.n_heads)
    raise ValueError(f"unknown head {name!r}; expected one of {HEADS}")


def block(lib: ModuleType, name: str, cfg: Config, head_name: str = "MultiHeadVer2"):
    """One block around a fresh attention module."""
    if name not in BLOCKS:
        raise ValueError(f"unknown block {name!r}; expected one of {BLOCKS}")
    args = (head(lib, head_name, cfg), cfg.embed_size)
    return lib.BlockVer4(*args, cfg.dropout) if name == "BlockVer4" else getattr(lib, name)(*args)


def stack(lib: ModuleType, name: str, cfg: Config, n_layers: int | None = None, head_name: str = "MultiHeadVer2"):
    """n_layers blocks in a Sequential (default: the config's n_layers)."""
    n = cfg.n_layers if n_layers is None else n_layers
    return lib.Sequential([block(lib, name, cfg, head_name) for _ in range(n)])


def contextualizer(lib: ModuleType, name: str, cfg: Config, n_layers: int | None = None,
                   head_name: str = "MultiHeadVer2"):
    """What sits between a GPT's embeddings and its lm_head: a head alone, or a stack of blocks."""
    if name in HEADS:
        return head(lib, name, cfg)
    return stack(lib, name, cfg, n_layers, head_name)


def gpt(lib: ModuleType, name: str, cfg: Config, ctx_name: str = "BlockVer4", n_layers: int | None = None,
        head_name: str = "MultiHeadVer2"):
    """A GPTVer3 or GPTVer4 around a contextualizer."""
    if name not in GPTS:
        raise ValueError(f"unknown GPT {name!r}; expected one of {GPTS}")
    ctx = contextualizer(lib, ctx_name, cfg, n_layers, head_name)
    return getattr(lib, name)(ctx, cfg.vocab_size, cfg.block_size, cfg.embed_size)


def nanogpt(lib: ModuleType, cfg: Config):
    """The curriculum's NanoGPT: GPTVer4 with n_layers x BlockVer4(MultiHeadVer2)."""
    return gpt(lib, "GPTVer4", cfg, "BlockVer4", cfg.n_layers, "MultiHeadVer2")


# Every component the parity checks cover: name -> recipe. Modules take (B, T, C) floats, GPTs (B, T) ids.
RECIPES: dict[str, Callable[[ModuleType, Config], object]] = {
    "HeadVer4": lambda lib, c: lib.HeadVer4(c.block_size, c.embed_size, c.head_size),
    "MultiHeadVer1": lambda lib, c: head(lib, "MultiHeadVer1", c),
    "MultiHeadVer2": lambda lib, c: head(lib, "MultiHeadVer2", c),
    "FeedForward": lambda lib, c: lib.FeedForward(c.embed_size),
    "LayerNorm": lambda lib, c: lib.LayerNorm(c.embed_size),
    **{name: (lambda n: lambda lib, c: block(lib, n, c))(name) for name in BLOCKS},
    **{f"2x{name}": (lambda n: lambda lib, c: stack(lib, n, c, 2))(name) for name in BLOCKS},
    "GPTVer3(2xBlockVer3)": lambda lib, c: gpt(lib, "GPTVer3", c, "BlockVer3", 2),
    "GPTVer4(2xBlockVer4)": lambda lib, c: gpt(lib, "GPTVer4", c, "BlockVer4", 2),
}

# Week 1: the averaging heads (no parameters), the four position encodings, the bigram and GPTVer2.
WEEK1_HEADS = ("HeadVer1", "HeadVer2", "HeadVer3")


def week1_head(lib: ModuleType, name: str, cfg: Config):
    """A week-1 contextualizer of width embed_size: an averaging head, or a HeadVer4 of head_size = embed_size."""
    if name in WEEK1_HEADS:
        return getattr(lib, name)(cfg.block_size, cfg.embed_size)
    return head(lib, name, cfg)


def gpt_v2(lib: ModuleType, cfg: Config, head_name: str = "HeadVer1"):
    """GPTVer2 (no positions) around one week-1 head."""
    return lib.GPTVer2(week1_head(lib, head_name, cfg), cfg.vocab_size, cfg.block_size, cfg.embed_size)


def gpt_v3(lib: ModuleType, cfg: Config, head_name: str = "HeadVer4"):
    """GPTVer3 (sinusoidal positions) around one week-1 head: week 1's finished model."""
    return lib.GPTVer3(week1_head(lib, head_name, cfg), cfg.vocab_size, cfg.block_size, cfg.embed_size)


RECIPES.update({
    **{name: (lambda n: lambda lib, c: week1_head(lib, n, c))(name) for name in WEEK1_HEADS},
    **{f"PositionalEncoding(v{v})": (lambda v: lambda lib, c: lib.PositionalEncoding(c.block_size, c.embed_size, v))(v)
       for v in VERSIONS},
    "GPTVer1": lambda lib, c: lib.GPTVer1(c.vocab_size, c.block_size),
    **{f"GPTVer2({h})": (lambda h: lambda lib, c: gpt_v2(lib, c, h))(h) for h in ("HeadVer1", "HeadVer4")},
    "GPTVer3(HeadVer4)": lambda lib, c: gpt_v3(lib, c, "HeadVer4"),
})


def takes_tokens(name: str) -> bool:
    """Whether the component named in RECIPES reads token ids (a GPT) rather than (B, T, C) floats."""
    return name.startswith("GPT")

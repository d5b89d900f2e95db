"""The component registry: every curriculum component, built from a Config by one recipe for both backends.

`lib` is a backend package (`learngpt_torch` or `learngpt_flax`): the classes share names and constructor
signatures, so the same recipe builds the twin modules on either side. One name means one module, wherever
it is used (`learngpt parity --component`, `learngpt bench --components`, the questions, the tests):

    HeadVer4                     one attention head as wide as the model: head_size = embed_size
    HeadVer4(C/n_heads)          one of MultiHeadVer1's heads: head_size = embed_size // n_heads
    NanoGPT                      GPTVer4 around n_layers x BlockVer4(MultiHeadVer2), the curriculum's model

A language model is an `Architecture` (which GPT, around which contextualizer): the registry's GPT entries
are Architectures, and a checkpoint stores one, so a model is described in one place only.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Mapping

import numpy as np

from learngpt import memory
from learngpt.config import Config
from learngpt.errors import ConfigError
from learngpt.positions import VERSIONS

WEEK1_HEADS = ("HeadVer1", "HeadVer2", "HeadVer3")  # averaging heads, no parameters
HEADS = ("HeadVer4", "MultiHeadVer1", "MultiHeadVer2")  # attention as wide as the model: fills a block's head
BLOCKS = ("BlockVer1", "BlockVer2", "BlockVer3", "BlockVer4", "BlockVer3PostNorm")  # the last: post_norm=True
GPTS = ("GPTVer1", "GPTVer2", "GPTVer3", "GPTVer4")


def attention(lib: ModuleType, name: str, cfg: Config):
    """An attention module of width embed_size: a single HeadVer4 has head_size = embed_size; the multi-head
    versions split the width into cfg.n_heads heads."""
    if name == "HeadVer4":
        return lib.HeadVer4(cfg.block_size, cfg.embed_size, cfg.embed_size)
    if name in ("MultiHeadVer1", "MultiHeadVer2"):
        return getattr(lib, name)(cfg.block_size, cfg.embed_size, cfg.n_heads)
    if name in WEEK1_HEADS:
        return getattr(lib, name)(cfg.block_size, cfg.embed_size)
    raise ConfigError(f"unknown attention {name!r}; expected one of {WEEK1_HEADS + HEADS}")


def block(lib: ModuleType, name: str, cfg: Config, head: str = "MultiHeadVer2"):
    """One block around a fresh attention module."""
    if name not in BLOCKS:
        raise ConfigError(f"unknown block {name!r}; expected one of {BLOCKS}")
    args = (attention(lib, head, cfg), cfg.embed_size)
    if name == "BlockVer4":
        return lib.BlockVer4(*args, cfg.dropout)
    if name == "BlockVer3PostNorm":  # the curriculum reference solution's BlockVer3: LayerNorm after each sum
        return lib.BlockVer3(*args, post_norm=True)
    return getattr(lib, name)(*args)


def stack(lib: ModuleType, name: str, cfg: Config, n_layers: int, head: str = "MultiHeadVer2"):
    """n_layers blocks in a Sequential."""
    return lib.Sequential([block(lib, name, cfg, head) for _ in range(n_layers)])


@dataclass(frozen=True)
class Architecture:
    """A language model: which GPT, around which contextualizer (an attention module, or a stack of blocks
    of `head` attention). GPTVer1, the bigram, has no contextualizer. n_layers None: the config's."""
    gpt: str = "GPTVer4"
    contextualizer: str | None = "BlockVer4"
    n_layers: int | None = None
    head: str = "MultiHeadVer2"

    def __post_init__(self) -> None:
        if self.gpt not in GPTS:
            raise ConfigError(f"unknown GPT {self.gpt!r}; expected one of {GPTS}")
        if (self.gpt == "GPTVer1") != (self.contextualizer is None):
            raise ConfigError(f"{self.gpt} {'takes no' if self.gpt == 'GPTVer1' else 'needs a'} contextualizer, "
                              f"got {self.contextualizer!r}")
        if self.contextualizer is not None and self.contextualizer not in WEEK1_HEADS + HEADS + BLOCKS:
            raise ConfigError(f"unknown contextualizer {self.contextualizer!r}; "
                              f"expected one of {WEEK1_HEADS + HEADS + BLOCKS}")
        if self.head not in HEADS:
            raise ConfigError(f"unknown head {self.head!r}; expected one of {HEADS}")
        if self.n_layers is not None and (not isinstance(self.n_layers, int) or isinstance(self.n_layers, bool)
                                          or self.n_layers <= 0):
            raise ConfigError(f"n_layers must be a positive integer or None, got {self.n_layers!r}")

    def build(self, lib: ModuleType, cfg: Config):
        """The model in backend package lib; refused (ConfigError) before any of it is built if it cannot fit in
        this machine's memory."""
        memory.check(cfg, training=False, n_layers=self.blocks(cfg))
        if self.gpt == "GPTVer1":
            return lib.GPTVer1(cfg.vocab_size, cfg.block_size)
        if self.contextualizer in BLOCKS:
            n = cfg.n_layers if self.n_layers is None else self.n_layers
            ctx = stack(lib, self.contextualizer, cfg, n, self.head)
        else:
            ctx = attention(lib, self.contextualizer, cfg)
        return getattr(lib, self.gpt)(ctx, cfg.vocab_size, cfg.block_size, cfg.embed_size)

    def blocks(self, cfg: Config) -> int:
        """How many blocks the model stacks (0 without a stack of blocks)."""
        if self.contextualizer not in BLOCKS:
            return 0
        return cfg.n_layers if self.n_layers is None else self.n_layers

    def check_weights(self, cfg: Config, weights: Mapping[str, Any], what: str) -> None:
        """ConfigError unless weights hold at least the numbers of the model cfg describes (each block's
        FeedForward alone holds 8 C^2 + 5 C): a description that does not match its tensors is refused before
        anything is built from it."""
        c = cfg.embed_size
        least = self.blocks(cfg) * (8 * c * c + 5 * c)
        held = sum(int(np.size(w)) for w in weights.values())
        if least > held:
            raise ConfigError(f"{what}: its metadata describes {self.describe(cfg)} of width {c}, at least "
                              f"{least:,} parameters, but the file holds {held:,} numbers; the metadata does "
                              f"not describe these tensors")

    def recipe(self, cfg: Config) -> Callable[[ModuleType], Any]:
        """A function lib -> module (what a backend adapter's create takes)."""
        return lambda lib: self.build(lib, cfg)

    def describe(self, cfg: Config) -> str:
        """One line for people: 'GPTVer4 with 5 x BlockVer4(MultiHeadVer2)'."""
        if self.contextualizer is None:
            return self.gpt
        if self.contextualizer in BLOCKS:
            n = cfg.n_layers if self.n_layers is None else self.n_layers
            return f"{self.gpt} with {n} x {self.contextualizer}({self.head})"
        return f"{self.gpt} with {self.contextualizer}"

    def to_dict(self) -> dict:
        return {"gpt": self.gpt, "contextualizer": self.contextualizer, "n_layers": self.n_layers, "head": self.head}

    @classmethod
    def from_dict(cls, values: dict) -> "Architecture":
        unknown = sorted(set(values) - {"gpt", "contextualizer", "n_layers", "head"})
        if unknown:
            raise ConfigError(f"unknown architecture fields {unknown}")
        return cls(**values)


NANOGPT = Architecture()  # the curriculum's NanoGPT: GPTVer4 with n_layers x BlockVer4(MultiHeadVer2)


@dataclass(frozen=True)
class Component:
    """One entry of the registry: how to build it, and what it reads."""
    name: str
    build: Callable[[ModuleType, Config], Any]
    takes_tokens: bool  # (B, T) token ids (a language model), else (B, T, C) floats
    architecture: Architecture | None = None  # set for the language models


REGISTRY: dict[str, Component] = {}


def _add(name: str, build: Callable[[ModuleType, Config], Any]) -> None:
    REGISTRY[name] = Component(name, build, takes_tokens=False)


def _add_model(name: str, arch: Architecture) -> None:
    REGISTRY[name] = Component(name, arch.build, takes_tokens=True, architecture=arch)


for _name in WEEK1_HEADS + HEADS:
    _add(_name, lambda lib, c, n=_name: attention(lib, n, c))
_add("HeadVer4(C/n_heads)", lambda lib, c: lib.HeadVer4(c.block_size, c.embed_size, c.head_size))
_add("FeedForward", lambda lib, c: lib.FeedForward(c.embed_size))
_add("LayerNorm", lambda lib, c: lib.LayerNorm(c.embed_size))
for _name in BLOCKS:
    _add(_name, lambda lib, c, n=_name: block(lib, n, c))
for _name in BLOCKS[:4]:
    _add(f"2x{_name}", lambda lib, c, n=_name: stack(lib, n, c, 2))
for _v in VERSIONS:
    _add(f"PositionalEncoding(v{_v})", lambda lib, c, v=_v: lib.PositionalEncoding(c.block_size, c.embed_size, v))
_add_model("GPTVer1", Architecture("GPTVer1", None))
for _head in ("HeadVer1", "HeadVer4"):
    _add_model(f"GPTVer2({_head})", Architecture("GPTVer2", _head))
_add_model("GPTVer3(HeadVer4)", Architecture("GPTVer3", "HeadVer4"))
_add_model("GPTVer3(2xBlockVer3)", Architecture("GPTVer3", "BlockVer3", 2))
_add_model("GPTVer4(2xBlockVer4)", Architecture("GPTVer4", "BlockVer4", 2))
_add_model("NanoGPT", NANOGPT)


def get(name: str) -> Component:
    if name not in REGISTRY:
        raise ConfigError(f"unknown component {name!r}; expected one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def build(lib: ModuleType, name: str, cfg: Config):
    """The registry's component `name` in backend package lib."""
    return get(name).build(lib, cfg)


LANGUAGE_MODELS = tuple(n for n, c in REGISTRY.items() if c.architecture is not None)  # what `train --model` takes


def language_model(name: str) -> Architecture:
    """The Architecture of the registry's language model `name` (a ConfigError lists them for any other)."""
    if name not in LANGUAGE_MODELS:
        what = "is a component, not a language model" if name in REGISTRY else "is not in the registry"
        raise ConfigError(f"{name!r} {what}; the language models are {', '.join(LANGUAGE_MODELS)}")
    return REGISTRY[name].architecture


"""The curriculum's hyper-parameters: one frozen dataclass, defaults = the seed's config."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from learngpt import checks
from learngpt.errors import ConfigError

MAX_SEED = 2**31 - 1  # every seed consumer takes it: numpy, torch.manual_seed, jax.random.key (int32 without x64)


@dataclass(frozen=True)
class Config:
    """The seed's week-2 config, plus the optimiser values that the two frameworks default differently."""

    batch_size: int = 32  # sequences per step: the seed's value
    block_size: int = 8  # context length T; the position table has this many rows
    max_iters: int = 5000  # training steps of one run, as in the seed
    eval_iters: int = 200  # batches averaged for one evaluation of train/val loss
    eval_interval: int = 500  # steps between two evaluations
    learning_rate: float = 1e-3  # AdamW step size, the seed's value
    embed_size: int = 16  # C: width of the residual stream
    n_layers: int = 5  # blocks stacked in NanoGPT
    n_heads: int = 8  # heads per multi-head attention; must divide embed_size
    dropout: float = 0.05  # rate of BlockVer4's two dropouts
    vocab_size: int = 65  # distinct characters of tiny-shakespeare
    # torch.optim.AdamW and optax.adamw disagree on weight decay (0.01 vs 1e-4): every value is stated here.
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW moment decay rates (torch's defaults)
    eps: float = 1e-8  # AdamW denominator epsilon, added outside the sqrt on both sides
    weight_decay: float = 0.01  # torch.optim.AdamW's default; both backends' AdamW take it from here
    train_fraction: float = 0.9  # leading share of the corpus used for training, the rest validates
    seed: int = 1337  # seeds the shared batch sampler and both backends' initialisers
    # torch trains through torch.compile (learngpt_torch/fast.py): the same maths, compiled before the clock
    torch_compile: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "block_size", "max_iters", "eval_iters", "eval_interval",
                     "embed_size", "n_layers", "n_heads", "vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed <= MAX_SEED):
            raise ConfigError(f"seed must be an integer in [0, {MAX_SEED}], got {self.seed!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be a positive finite number, got {self.learning_rate!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"eps must be a positive finite number, got {self.eps!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not isinstance(self.torch_compile, bool):
            raise ConfigError(f"torch_compile must be True or False, got {self.torch_compile!r}")
        if not 0.0 < self.train_fraction < 1.0:
            raise ConfigError(f"train_fraction must be in (0, 1), got {self.train_fraction!r}")
        checks.check_divisible(self.embed_size, self.n_heads)
        checks.check_dropout(self.dropout)

    @property
    def head_size(self) -> int:
        """Width of one head in multi-head attention: embed_size // n_heads."""
        return self.embed_size // self.n_heads

    def replace(self, **changes) -> "Config":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config fields {unknown}; expected a subset of {sorted(known)}")
        values = dict(values)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)


# Named sizes and schedules (`--preset NAME`): flag values, the flags given after --preset win.
# laptop: nanoGPT's CPU recipe (github.com/karpathy/nanoGPT, README, "I only have a macbook"): 4 layers, 4 heads,
# 128 wide, context 64, batch 12, 2000 iterations, dropout 0, 20 evaluation batches every 250 steps; nanoGPT's
# README reports "a loss of only 1.88" after "about 3 minutes" of it.
PRESETS: dict[str, dict] = {
    "curriculum": {"n_layers": 5, "n_heads": 8, "embed_size": 16, "block_size": 8, "batch_size": 32,
                   "dropout": 0.05},
    "laptop": {"n_layers": 4, "n_heads": 4, "embed_size": 128, "block_size": 64, "batch_size": 12, "iters": 2000,
               "dropout": 0.0, "eval_iters": 20, "eval_interval": 250},  # 250: its config/train_shakespeare_char.py
}
NANOGPT_LAPTOP_LOSS = 1.88  # nanoGPT's README: the laptop recipe's validation loss
NANOGPT_LAPTOP_MINUTES = 3  # "about 3 minutes" on nanoGPT's author's laptop


def preset_action(presets: dict[str, dict] = PRESETS):
    """An argparse action for --preset NAME: sets that preset's flag values (dest names) on the namespace at
    the point where it appears, so that the flags given after it win."""
    import argparse

    class Preset(argparse.Action):
        def __call__(self, parser, namespace, value, option_string=None):
            for dest, v in presets[value].items():
                setattr(namespace, dest, v)
            setattr(namespace, self.dest, value)
    return Preset

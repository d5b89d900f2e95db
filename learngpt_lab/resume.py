"""Continuing a run from a checkpoint: what a resumed run keeps, and the batches it draws next.

A checkpoint (learngpt_lab/checkpoints.py) keeps the weights, the Config, the Architecture, the vocabulary and the
step count; it keeps no optimizer state. A resumed run therefore starts AdamW's moments (and their bias
correction) afresh, from the checkpoint's weights; its batches continue the stream the first run drew (the
first `step` batches of the seed's sampler are skipped), its evaluation batches are the first run's, and its
dropout draws start again from the seed's rng."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from learngpt import memory
from learngpt.components import Architecture
from learngpt.config import Config
from learngpt.data import BatchSampler, Corpus, check_block
from learngpt.errors import InputError

KEPT = "the weights, the model and its sizes, the vocabulary and the step count (no AdamW moments: they restart)"
SCHEDULE = ("max_iters", "eval_interval", "eval_iters")  # what a resumed run may change: its own length
MAX_STEP = 10**7  # the most steps a checkpoint records: a resumed run skips (draws) that many batches first


def config(saved: Any, corpus: Corpus, path: str, **schedule: int) -> Config:
    """The resumed run's Config: the checkpoint's, with this run's length (max_iters, eval_interval, eval_iters),
    checked against the corpus (its vocabulary, a block that fits) and this machine's memory before any work."""
    unknown = sorted(set(schedule) - set(SCHEDULE))
    if unknown:
        raise InputError(f"a resumed run keeps the checkpoint's {', '.join(unknown)}; it may change only "
                         f"{', '.join(SCHEDULE)}")
    check_vocab(saved.vocab, corpus, path)
    check_step(saved.step, schedule.get("max_iters", 0), path)
    cfg = dataclasses.replace(saved.config, **schedule)
    check_block(corpus, cfg.block_size)
    memory.check(cfg)
    return cfg


def check_vocab(saved: str, corpus: Corpus, path: str) -> None:
    """InputError unless the corpus's characters are the checkpoint's: its token ids would mean other letters."""
    if corpus.tokenizer.chars != saved:
        raise InputError(f"--resume {path}: the checkpoint's vocabulary ({len(saved)} characters) is not this "
                         f"corpus's ({corpus.tokenizer.vocab_size}); resume on the corpus it was trained on")


def check_step(done: Any, more: int, path: str) -> None:
    """InputError unless the checkpoint's step is a whole number >= 0 and the run's last step, done + more, is at
    most MAX_STEP (what a checkpoint may record): bounded before the batches are skipped."""
    if isinstance(done, bool) or not isinstance(done, (int, np.integer)) or not 0 <= done <= MAX_STEP:
        raise InputError(f"--resume {path}: its step {str(done)[:24]} is not a whole number in [0, {MAX_STEP}]")
    if done + more > MAX_STEP:
        raise InputError(f"--resume {path}: step {done} + --iters {more} passes {MAX_STEP}, the most steps a "
                         f"checkpoint records")


def sampler(corpus: Corpus, cfg: Config, done: int) -> BatchSampler:
    """The seed's batch stream after `done` steps: what an uninterrupted run would draw next (each skipped
    batch's starting offsets drawn as sample draws them, the batch itself never gathered)."""
    s = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
    high = len(corpus.split("train")) - cfg.block_size
    for _ in range(done):
        s.rng.integers(0, high, size=cfg.batch_size)  # BatchSampler.sample's draw
    return s


def check_flags(saved: Any, path: str, model: Architecture | None, sizes: dict[str, tuple[Any, Any]]) -> None:
    """InputError if a model (model: the one asked for, None: none asked) or a size flag differs from the
    checkpoint `saved`: a resumed run keeps its model. sizes: Config field -> (given, the flag's default); a
    flag left at its default is not a request."""
    if model is not None and model != saved.architecture:
        raise InputError(f"--model: {path} holds {saved.architecture.describe(saved.config)}; a resumed run keeps "
                         f"the checkpoint's model (leave --model out)")
    for dest, (given, default) in sizes.items():
        kept = getattr(saved.config, dest)
        if given != default and given != kept:
            raise InputError(f"--{dest.replace('_', '-')} {given}: {path} was trained with {kept}; a resumed run "
                             f"keeps the checkpoint's sizes and seed (leave the flag out)")


def train(backend: Any, saved: Any, cfg: Config, corpus: Corpus, device: str, progress: bool) -> tuple[Any, Any]:
    """(model, history): the checkpoint's weights in `backend` (a learngpt_lab Backend), trained cfg.max_iters
    steps on the batches that follow its step."""
    with backend.on(device):
        model = backend.create(saved.architecture.recipe(cfg), example=np.zeros((1, cfg.block_size), np.int64),
                               weights=saved.weights)
        return model, backend.train(model, cfg, sampler(corpus, cfg, saved.step), progress=progress)

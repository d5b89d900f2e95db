"""Training experiments for the questions: arms trained per seed on both backends' shared batch stream.

For seed s, every backend draws the same training batches (BatchSampler seeded with s) and is evaluated on
the same fixed evaluation batches (learngpt.training.eval_data). A run is cached for the process under
everything that determines it (backend and dtype, architecture, config, corpus, steps), so that two
questions sharing an arm (5 x BlockVer2 answers the residual and the LayerNorm question) train it once.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from learngpt.components import Architecture
from learngpt.config import Config
from learngpt.data import BatchSampler, Corpus
from learngpt.training import EvalPoint, eval_data, last_evaluation_only
from learngpt_lab.questions import Experiment, Profile, Result, num

_RUNS: dict[tuple, tuple[EvalPoint, float]] = {}  # -> (final evaluation, training steps per second)


def small_split(corpus: Corpus, train_tokens: int) -> Corpus:
    """The corpus with only its first train_tokens training characters (the validation split unchanged)."""
    return Corpus(corpus.text, corpus.tokenizer, corpus.train[:train_tokens], corpus.val)


def train_final(backend, arch: Architecture, cfg: Config, corpus: Corpus, max_iters: int,
                eval_interval: int) -> tuple[EvalPoint, float]:
    """Train arch from init seed cfg.seed on the sampler seeded cfg.seed: (final evaluation, steps/s)."""
    key = (backend.name, backend.dtype, arch, cfg, corpus.fingerprint, max_iters, eval_interval)
    if key not in _RUNS:
        sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed=cfg.seed)
        evals = eval_data(sampler, cfg)  # fixed batches from their own generator: the same on both sides
        model = backend.create(arch.recipe(cfg), np.zeros((1, cfg.block_size), np.int64), seed=cfg.seed)
        with last_evaluation_only():  # the final evaluation is all a question reads
            history = backend.train(model, cfg, sampler, evals, max_iters=max_iters, eval_interval=eval_interval)
        _RUNS[key] = (history.final, history.steps_per_second)
    return _RUNS[key]


LEARNED_MARGIN = 0.1  # nats: an arm "learned" when its mean loss is this far under the unigram baseline


def train_arms(backend, prof: Profile, corpus: Corpus, arms: dict[str, Architecture], max_iters: int,
               claim: Callable[[dict[str, list[float]]], tuple[bool, str, float | None]], metric: str = "val_loss",
               train_tokens: int | None = None, cfg_changes: dict | None = None,
               extra_metrics: tuple[str, ...] = (), learned: str = "val_loss",
               must_learn: tuple[str, ...] | None = None, seeds: tuple[int, ...] | None = None) -> Result:
    """Train every arm once per seed; numbers[label] = the final `metric` per seed; claim judges them.

    Guards, whatever the claim's verdict: every arm in must_learn (default: all) ends with a mean `learned` loss
    at least LEARNED_MARGIN under the corpus's unigram baseline (the loss of knowing only how common each
    character is), so that a broken model cannot make a negative answer pass. (An arm whose point is that it
    barely learns, 5 x BlockVer1 without residuals, is left out of must_learn.) seeds: the profile's unless given."""
    seeds = prof.seeds if seeds is None else seeds
    t0 = time.perf_counter()
    data = corpus if train_tokens is None else small_split(corpus, train_tokens)
    numbers: dict[str, list[float]] = {}
    learned_losses: dict[str, list[float]] = {}
    speed: dict[str, list[float]] = {}
    for seed in seeds:
        cfg = prof.cfg(seed, **(cfg_changes or {}))
        for label, arch in arms.items():
            point, steps_per_second = train_final(backend, arch, cfg, data, max_iters,
                                                  min(prof.eval_interval, max_iters))
            speed.setdefault(label, []).append(steps_per_second)
            learned_losses.setdefault(label, []).append(getattr(point, learned))
            for m in (metric,) + extra_metrics:
                name = label if m == metric else f"{label} {m.replace('_loss', '')}"
                numbers.setdefault(name, []).append(getattr(point, m))
    holds, text, gap = claim(numbers)
    setup = (f"{max_iters} AdamW steps at lr {cfg.learning_rate:g}, batch {cfg.batch_size}, block_size "
             f"{cfg.block_size}, embed_size {cfg.embed_size}, {cfg.n_heads} heads, dropout {cfg.dropout:g} (BlockVer4 "
             f"only), on {len(data.train):,} training characters; {cfg.eval_iters} evaluation batches per split; "
             f"seeds {list(seeds)}")
    baseline = corpus.unigram_entropy
    guards = [(float(np.mean(v)) < baseline - LEARNED_MARGIN,
               f"{label} learned: mean {learned.replace('_loss', '')} loss {np.mean(v):.4f} < unigram baseline "
               f"{baseline:.4f} - {LEARNED_MARGIN}") for label, v in learned_losses.items()
              if must_learn is None or label in must_learn]
    notes = [f"{max_iters} steps per run; training steps/s (compile and evaluation excluded): "
             + ", ".join(f"{label} {np.mean(v):.0f}" for label, v in speed.items())
             + f"; {time.perf_counter() - t0:.0f} s"]
    return Result(numbers, holds, text, seeds, notes, guards=guards, gap=gap, setup=setup)


@dataclass(frozen=True)
class Lower:
    """The claim: `better` ends lower than `worse` on the mean over seeds and on most seeds (a strict majority).
    better and worse are labels of the measured numbers (an arm, or "<arm> train" for its train loss)."""
    better: str
    worse: str
    what: str = "val loss"

    def __call__(self, numbers):
        better, worse, what = self.better, self.worse, self.what
        b, w = np.asarray(numbers[better]), np.asarray(numbers[worse])
        wins, n = int((b < w).sum()), len(b)
        holds = bool(b.mean() < w.mean() and wins > n / 2)
        return holds, (f"mean {what}: {better} {b.mean():.4f} {'<' if b.mean() < w.mean() else '>='} {worse} "
                       f"{w.mean():.4f}; lower on {wins} of {n} seeds"), float(b.mean() - w.mean())

    @property
    def text(self) -> str:
        arm = lambda label: label.removesuffix(" " + self.what.removesuffix(" loss"))  # noqa: E731
        return f"{arm(self.better)}'s mean {self.what} below {arm(self.worse)}'s, and lower on most seeds"


def lower(better: str, worse: str, what: str = "val loss") -> Lower:
    """The claim: `better` ends lower than `worse` on the mean over seeds and on most seeds (a strict majority)."""
    return Lower(better, worse, what)


@dataclass(frozen=True)
class Both:
    """Every claim at once (the gap reported is the first claim's)."""
    claims: tuple

    def __call__(self, numbers):
        results = [c(numbers) for c in self.claims]
        return all(r[0] for r in results), "; ".join(r[1] for r in results), results[0][2]

    @property
    def text(self) -> str:
        return "; and ".join(c.text for c in self.claims)


def both(*claims) -> Both:
    """Every claim at once (the gap reported is the first claim's)."""
    return Both(claims)


def model(arch: Architecture) -> str:
    """An arm's model in a line: GPTVer1; GPTVer4(MultiHeadVer1); GPTVer4(40 x BlockVer3)."""
    if arch.contextualizer is None:
        return arch.gpt
    n = "" if arch.n_layers is None else f"{arch.n_layers} x "
    return f"{arch.gpt}({n}{arch.contextualizer})"


@dataclass(frozen=True)
class Trial:
    """One training question's experiment as data: every arm (label -> Architecture) trained max_iters steps per
    seed (the profile's seeds unless given) with the profile's config changed by cfg_changes (on the first
    train_tokens training characters where given), judged by claim; the guards ask every arm in must_learn
    (default: all) to end with a mean `learned` loss LEARNED_MARGIN under the unigram baseline. run() trains
    exactly this (train_arms); describe() states it."""
    arms: dict[str, Architecture]
    max_iters: int
    claim: Callable[[dict[str, list[float]]], tuple[bool, str, float | None]]
    cfg_changes: dict | None = None
    seeds: tuple[int, ...] | None = None
    train_tokens: int | None = None
    extra_metrics: tuple[str, ...] = ()
    learned: str = "val_loss"
    must_learn: tuple[str, ...] | None = None

    def run(self, backend, prof: Profile, corpus: Corpus) -> Result:
        return train_arms(backend, prof, corpus, self.arms, self.max_iters, claim=self.claim,
                          train_tokens=self.train_tokens, cfg_changes=self.cfg_changes,
                          extra_metrics=self.extra_metrics, learned=self.learned, must_learn=self.must_learn,
                          seeds=self.seeds)

    def describe(self, prof: Profile) -> Experiment:
        seeds = prof.seeds if self.seeds is None else self.seeds
        cfg = prof.cfg(seeds[0], **(self.cfg_changes or {}))
        arms = [label if model(arch) == label else f"{label} = {model(arch)}" for label, arch in self.arms.items()]
        dropout = any(arch.contextualizer == "BlockVer4" for arch in self.arms.values())
        split = ("the whole training split" if self.train_tokens is None
                 else f"the first {self.train_tokens:,} training characters")
        setup = (f"{self.max_iters} AdamW steps at lr {num(cfg.learning_rate)}, batch {cfg.batch_size}, block_size "
                 f"{cfg.block_size}, embed_size {cfg.embed_size}, {cfg.n_heads} heads"
                 + (f", dropout {num(cfg.dropout)}" if dropout else "") + f", on {split}; seeds "
                 + ", ".join(map(str, seeds)) + f"; {cfg.eval_iters} evaluation batches per split for the final "
                 + self.metrics)
        learners = "every arm" if self.must_learn is None else " and ".join(self.must_learn)
        bound = (f"guard: {learners} learned (mean {self.learned.replace('_', ' ')} at least {LEARNED_MARGIN} nats "
                 "under the corpus's unigram baseline)")
        return Experiment(" vs ".join(arms), setup, getattr(self.claim, "text", ""), bound)

    @property
    def metrics(self) -> str:
        return " and ".join(m.replace("_", " ") for m in ("val_loss",) + self.extra_metrics)


def trial(define: Callable[[Profile], Trial]) -> Callable[..., Result]:
    """A question's run from `define(profile) -> Trial`, the one statement of its experiment: the run trains that
    Trial and its `experiment` describes the same Trial (question() registers both)."""
    @functools.wraps(define)
    def run(backend, prof: Profile, corpus: Corpus) -> Result:
        return define(prof).run(backend, prof, corpus)
    run.experiment = lambda prof: define(prof).describe(prof)
    return run


def gpt4_around(contextualizer: str, n_layers: int | None = None, head: str = "MultiHeadVer2") -> Architecture:
    """GPTVer4 around one contextualizer: the week-2 questions' models."""
    return Architecture("GPTVer4", contextualizer, n_layers, head)

"""The curriculum's questions as experiments, each stated once and asked of any backend.

A question is an experiment function registered with `@question`: its id (the test that asks it, e.g.
"test_ffn_helps"), the test file, the seed's question in English and the answer. The function returns a
`Result` whose `holds` is the one judgement of the claim; a test only asserts it:

    @question("test_ffn_helps", "test_8", asks="Which performs better, ...?", answer="BlockVer1: ...")
    def ffn_helps(backend, prof, corpus) -> Result: ...

    def test_ffn_helps(answer):          # tests/test_8.py; the `answer` fixture asks the test's own question
        answer.check()

`ask(id, backend, corpus, profile)` runs one question; `learngpt questions` runs them all (week 1's module,
then week 2's, in the seed's order). Profiles set how much the training questions train: `default` (what
CI runs), `full` (the seed's config: 5000 steps, 200 evaluation batches).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from learngpt.config import Config
from learngpt.errors import UserError

PROFILE_ENV = "LEARNGPT_PROFILE"


@dataclass(frozen=True)
class Profile:
    """How much an experiment trains. `full` is the seed's config; `default` is what CI can afford."""
    name: str
    max_iters: int  # AdamW steps per training run
    eval_iters: int  # fixed evaluation batches per split, averaged
    eval_interval: int  # steps between evaluations (only the last one is compared)
    seeds: tuple[int, ...]  # one run per seed; claims are asserted on the mean over seeds
    deep_max_iters: int  # steps for the n_layers-deep stacks (residual, LayerNorm questions)
    dropout_max_iters: int  # steps for the dropout question (small training split, so it can overfit)
    dropout_train_tokens: int  # characters of the training split the dropout question keeps

    def cfg(self, seed: int, **changes) -> Config:
        return Config(seed=seed, eval_iters=self.eval_iters, **changes)


PROFILES = {
    # The seed's config exactly: 5000 steps, 200 evaluation batches every 500 steps.
    "full": Profile("full", max_iters=5000, eval_iters=200, eval_interval=500, seeds=(0, 1, 2),
                    deep_max_iters=5000, dropout_max_iters=5000, dropout_train_tokens=2000),
    # CI: fewer steps, fewer evaluation batches, one evaluation at the end (values chosen by measurement,
    # see docs/answers.md: every claim holds on the mean of three seeds with these).
    "default": Profile("default", max_iters=500, eval_iters=50, eval_interval=1000, seeds=(0, 1, 2),
                       deep_max_iters=400, dropout_max_iters=800, dropout_train_tokens=2000),
}


def profile(name: str | None = None) -> Profile:
    """The named profile, else $LEARNGPT_PROFILE, else `default`."""
    name = name or os.environ.get(PROFILE_ENV) or "default"
    if name not in PROFILES:
        raise UserError(f"unknown profile {name!r}; expected one of {', '.join(PROFILES)}")
    return PROFILES[name]


class ClaimDoesNotHold(AssertionError):
    """The question's claim is false on this backend (a strict xfail expects exactly this)."""


@dataclass
class Result:
    """What one question measured on one backend: the numbers, and the one judgement of the claim."""
    numbers: dict[str, list[float]]  # label -> one value per seed (or a single measurement)
    holds: bool
    claim: str  # one line with the compared numbers
    seeds: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)
    question: str = ""  # filled in by ask()
    backend: str = ""
    seconds: float = 0.0

    def mean(self, label: str) -> float:
        return float(np.mean(self.numbers[label]))

    def check(self) -> None:
        """Assert the claim: raises ClaimDoesNotHold (an AssertionError) naming the numbers when it is false."""
        if not self.holds:
            raise ClaimDoesNotHold(f"{self.question}[{self.backend}]: {self.claim}")

    def __str__(self) -> str:
        lines = [f"{self.question}[{self.backend}]: {'holds' if self.holds else 'DOES NOT HOLD'}: {self.claim}"]
        for label, values in self.numbers.items():
            if len(values) > 1:
                per_seed = ", ".join(f"seed {s}: {v:.4f}" for s, v in zip(self.seeds, values))
                lines.append(f"  {label}: mean {np.mean(values):.4f} ({per_seed})")
            else:
                lines.append(f"  {label}: {values[0]:.6g}")
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class Question:
    """One of the seed's questions: the test that asks it, the question, the answer, the experiment."""
    id: str  # the test function's name, e.g. "test_ffn_helps"
    file: str  # the test file, e.g. "test_8"
    asks: str
    answer: str
    run: Callable[..., Result]  # (backend, profile, corpus) -> Result
    trains: bool  # whether it trains models (needs the corpus; the `training` test marker)


QUESTIONS: dict[str, Question] = {}  # id -> question, in registration order (the seed's, week 1 first)


def question(id: str, file: str, asks: str, answer: str, trains: bool = False):
    """Register the decorated experiment as the question `id` of the test file `file`."""
    def register(run: Callable[..., Result]) -> Callable[..., Result]:
        if id in QUESTIONS:
            raise ValueError(f"question {id!r} is registered twice")
        QUESTIONS[id] = Question(id, file, asks, answer, run, trains)
        return run
    return register


def load() -> dict[str, Question]:
    """Every question, week 1 then week 2 (importing the modules registers them)."""
    from learngpt_lab.questions import week1, week2  # noqa: F401
    return QUESTIONS


def ask(id: str, backend, corpus=None, prof: Profile | None = None) -> Result:
    """Run question `id` on a learngpt_lab.backends.Backend."""
    questions = load()
    if id not in questions:
        raise UserError(f"unknown question {id!r}")
    q = questions[id]
    t0 = time.perf_counter()
    result = q.run(backend, prof or profile(), corpus)
    result.question, result.backend, result.seconds = q.id, backend.name, time.perf_counter() - t0
    return result

"""The curriculum's questions as experiments, each stated once and asked of any backend.

A question is an experiment function registered with `@question`: its id (the test that asks it, e.g.
"test_ffn_helps"), the test file, the curriculum's question in English and the answer. The function returns a
`Result` whose `holds` is the one judgement of the claim; a test only asserts it:

    @question("test_ffn_helps", "test_8", asks="Which performs better, ...?", answer="BlockVer1: ...")
    def ffn_helps(backend, prof, corpus) -> Result: ...

    def test_ffn_helps(answer):          # tests/test_8.py; the `answer` fixture asks the test's own question
        answer.check()

Each question also states its experiment as data, `Experiment` (what it compares, with what, the claim, the
bound), built from the values its run uses; `describe(id)` is that text, which each test file shows as the
test's docstring (tests/unit/test_question_files.py fails when the two differ).

`ask(id, backend, corpus, profile)` runs one question; `learngpt questions` runs them all (week 1's module,
then week 2's, in the curriculum's order). Profiles set how much the training questions train and with what:
`default` (what CI runs), `full` (the curriculum's config: 5000 steps, 200 evaluation batches) and `seed` (each
original question's own setup, where it differs).
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from learngpt.config import Config
from learngpt.errors import UserError

PROFILE_ENV = "LEARNGPT_PROFILE"


@dataclass(frozen=True)
class Profile:
    """How much the training questions train, and with what: `default` is what CI can afford; `full` is the
    seed's config (5000 steps, 200 evaluation batches every 500 steps); `seed` reproduces each original
    question's own setup where it differs from ours (the curriculum's reference tests: week 1 at lr 1e-3 and
    embed_size 32, the deep questions at 10 blocks with post-norm LayerNorm, dropout on one block for 10,000
    steps at lr 5e-3, rate 0.1, on a 0.1% training split). Every profile runs three seeds (the multi-head question
    five) and judges the mean and the majority of seeds."""
    name: str
    seeds: tuple[int, ...]
    eval_iters: int  # fixed evaluation batches per split, averaged
    eval_interval: int  # steps between evaluations (only the last one is judged)
    max_iters: int  # the shallow week-2 questions (heads, feed-forward)
    multi_head_max_iters: int  # the multi-head question: early in training, where its gap holds (the seed sweep)
    multi_head_seeds: tuple[int, ...]  # five: per seed the gap is near the seed-to-seed spread (docs/answers.md)
    deep_max_iters: int  # the deep stacks (residual, LayerNorm)
    deep_n_layers: int  # their depth
    layer_norm_block: str  # BlockVer3 (pre-norm, the curriculum's figure) or BlockVer3PostNorm (the reference's)
    layer_norm_depth: int  # where LayerNorm beats residuals alone at this width (the depth sweep found it) ...
    layer_norm_depth_max_iters: int  # ... after this many steps (the sweep's 400; CI's 200, where it holds too)
    dropout_max_iters: int
    dropout_train_tokens: int  # the training split the dropout question keeps (so that the model can overfit)
    dropout_n_layers: int
    dropout_rate: float
    dropout_learning_rate: float
    week1_max_iters: int
    week1_learning_rate: float
    week1_embed_size: int

    def cfg(self, seed: int, **changes) -> Config:
        return Config(seed=seed, eval_iters=self.eval_iters, **changes)


# what CI runs: fewer steps and evaluation batches (values chosen by measurement, docs/answers.md)
DEFAULT = Profile("default", seeds=(0, 1, 2), eval_iters=50, eval_interval=1000, max_iters=500,
                  multi_head_max_iters=500, multi_head_seeds=(0, 1, 2, 3, 4), deep_max_iters=400, deep_n_layers=5,
                  layer_norm_block="BlockVer3", layer_norm_depth=40, layer_norm_depth_max_iters=200,
                  dropout_max_iters=800, dropout_train_tokens=2000, dropout_n_layers=5, dropout_rate=0.05,
                  dropout_learning_rate=1e-3, week1_max_iters=500, week1_learning_rate=1e-2, week1_embed_size=16)
# The curriculum's config exactly: 5000 steps, 200 evaluation batches every 500 steps (the multi-head question and the
# deeper LayerNorm question keep the steps where their claims were found to hold: the sweep's 400 for the latter).
FULL = replace(DEFAULT, name="full", eval_iters=200, eval_interval=500, max_iters=5000, deep_max_iters=5000,
               layer_norm_depth_max_iters=400, dropout_max_iters=5000, week1_max_iters=5000)
# Each original question's own setup (the curriculum's reference tests), where it differs.
SEED = replace(FULL, name="seed", deep_n_layers=10, layer_norm_block="BlockVer3PostNorm", dropout_max_iters=10000,
               dropout_train_tokens=1003, dropout_n_layers=1, dropout_rate=0.1, dropout_learning_rate=5e-3,
               week1_learning_rate=1e-3, week1_embed_size=32)
PROFILES = {p.name: p for p in (DEFAULT, FULL, SEED)}


def profile(name: str | None = None) -> Profile:
    """The named profile, else $LEARNGPT_PROFILE, else `default`."""
    name = name or os.environ.get(PROFILE_ENV) or "default"
    if name not in PROFILES:
        raise UserError(f"unknown profile {name!r}; expected one of {', '.join(PROFILES)}")
    return PROFILES[name]


def num(x: float) -> str:
    """A bound as the questions write it: 1e-6, 1e-3, 0.03, 1.5."""
    short = f"{x:.0e}"
    text = short if x and abs(x) < 0.01 and float(short) == x else f"{x:g}"
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", text).replace("e+", "e")


@dataclass(frozen=True)
class Experiment:
    """A question's experiment under one profile, as a learner reads it: what is compared (the arms, or the
    measured quantities), with what (steps, seeds, config; or the input and its sizes), the claim, the bound."""
    compares: str
    setup: str
    claim: str
    bound: str

    LABELS = (("compares", "Compares"), ("setup", "With"), ("claim", "Claim"), ("bound", "Bound"))

    def fields(self) -> list[tuple[str, str]]:
        """(label, text) in the order a test's docstring shows them."""
        return [(label, getattr(self, name)) for name, label in self.LABELS]


class ClaimDoesNotHold(AssertionError):
    """The question's claim is false on this backend (a strict xfail expects exactly this)."""


@dataclass
class Result:
    """What one question measured on one backend: the numbers, the guards, and the one judgement of the claim."""
    numbers: dict[str, list[float]]  # label -> one value per seed (or a single measurement)
    holds: bool
    claim: str  # one line with the compared numbers
    seeds: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)
    guards: list[tuple[bool, str]] = field(default_factory=list)  # what must be true whatever the claim's verdict
    gap: float | None = None  # better arm's mean minus worse arm's (negative when a "lower is better" claim holds)
    setup: str = ""  # what a training question trained with
    question: str = ""  # filled in by ask()
    backend: str = ""
    profile: str = ""
    seconds: float = 0.0

    def mean(self, label: str) -> float:
        return float(np.mean(self.numbers[label]))

    def check(self, gap_band: dict | None = None) -> None:
        """Assert the guards (every arm learned, ...), then the gap's measured band (a negative answer's test
        passes it: {profile: {backend: (low, high)}}), then the claim. The guards and the band fail as
        AssertionError; only a false claim raises ClaimDoesNotHold, so that a strict xfail expecting it
        cannot pass because a model is broken."""
        where = f"{self.question}[{self.backend}]"
        broken = [text for ok, text in self.guards if not ok]
        if broken:
            raise AssertionError(f"{where}: " + "; ".join(broken))
        if gap_band is not None and self.profile in gap_band:
            low, high = gap_band[self.profile][self.backend]
            if self.gap is None or not low <= self.gap <= high:
                raise AssertionError(f"{where}: the gap {self.gap} left its measured band [{low}, {high}] "
                                     f"(profile {self.profile}): {self.claim}")
        if not self.holds:
            raise ClaimDoesNotHold(f"{where}: {self.claim}")

    def __str__(self) -> str:
        lines = [f"{self.question}[{self.backend}]: {'holds' if self.holds else 'DOES NOT HOLD'}: {self.claim}"]
        for label, values in self.numbers.items():
            if len(values) > 1:
                per_seed = ", ".join(f"seed {s}: {v:.4f}" for s, v in zip(self.seeds, values))
                lines.append(f"  {label}: mean {np.mean(values):.4f} ({per_seed})")
            else:
                lines.append(f"  {label}: {values[0]:.6g}")
        if self.setup:
            lines.append(f"  trained with: {self.setup}")
        lines += [f"  guard {'ok' if ok else 'FAILED'}: {text}" for ok, text in self.guards]
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"question": self.question, "backend": self.backend, "profile": self.profile, "holds": self.holds,
                "claim": self.claim, "numbers": self.numbers, "seeds": list(self.seeds), "gap": self.gap,
                "guards": [[ok, text] for ok, text in self.guards], "notes": self.notes, "setup": self.setup,
                "seconds": self.seconds}


@dataclass(frozen=True)
class Question:
    """One of the curriculum's questions: the test that asks it, the question, the answer, the experiment."""
    id: str  # the test function's name, e.g. "test_ffn_helps"
    file: str  # the test file, e.g. "test_8"
    asks: str
    answer: str
    run: Callable[..., Result]  # (backend, profile, corpus) -> Result
    trains: bool  # whether it trains models (needs the corpus; the `training` test marker)
    times: bool = False  # whether it compares speeds (the `timing` test marker: run alone, never beside other work)
    experiment: Experiment | Callable[[Profile], Experiment] | None = None  # one Experiment, or one per profile

    def experiment_in(self, prof: Profile) -> Experiment:
        """This question's experiment under `prof`."""
        return self.experiment(prof) if callable(self.experiment) else self.experiment


QUESTIONS: dict[str, Question] = {}  # id -> question, in registration order (the curriculum's, week 1 first)


def question(id: str, file: str, asks: str, answer: str, trains: bool = False, times: bool = False,
             experiment: Experiment | Callable[[Profile], Experiment] | None = None):
    """Register the decorated experiment as the question `id` of the test file `file`; `experiment` states it
    (default: the run's own `experiment` attribute, which training.trial sets)."""
    def register(run: Callable[..., Result]) -> Callable[..., Result]:
        if id in QUESTIONS:
            raise ValueError(f"question {id!r} is registered twice")
        stated = experiment if experiment is not None else getattr(run, "experiment", None)
        if stated is None:
            raise ValueError(f"question {id!r} states no experiment")
        QUESTIONS[id] = Question(id, file, asks, answer, run, trains, times, stated)
        return run
    return register


def describe(id: str) -> list[str]:
    """Question `id`'s experiment as its test's docstring shows it, one line per field: the default profile's,
    then, for each other profile, what differs there (the parts of each field, split at ", " and "; ", that the
    default profile's field does not have)."""
    q = load()[id]
    base = q.experiment_in(DEFAULT).fields()
    lines = [f"{label}: {text}" for label, text in base]
    for prof in PROFILES.values():
        if prof is not DEFAULT:
            changed = []
            for (label, text), (_, was) in zip(q.experiment_in(prof).fields(), base):
                kept = set(re.split(r", |; ", was))
                new = [part for part in re.split(r", |; ", text) if part not in kept]
                if new:
                    changed.append(f"{label.lower()} " + ", ".join(new))
            if changed:
                lines.append(f"{PROFILE_ENV}={prof.name}: " + "; ".join(changed))
    return lines


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
    prof = prof or profile()
    result = q.run(backend, prof, corpus)
    result.question, result.backend, result.profile = q.id, backend.name, prof.name
    result.seconds = time.perf_counter() - t0
    return result

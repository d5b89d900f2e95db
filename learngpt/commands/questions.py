"""`learngpt questions`: ask the curriculum's questions of both backends and print the answers.

For each question (parity/questions.py, and parity/questions_week1.py when it exists, see
parity.questions.MODULES): the seed's question in English, the numbers measured on each backend
(per seed for training questions), whether the seed's claim holds there, and a two-line answer.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default=None,
                        help="torch, flax or torch,flax (default: $LEARNGPT_BACKEND, else both)")
    parser.add_argument("--profile", choices=("default", "full"), default=None,
                        help="default: shortened training (what CI runs); full: the seed's config exactly "
                             "(default: $LEARNGPT_PROFILE, else default)")
    parser.add_argument("--only", default=None, metavar="TEXT",
                        help="ask only the questions whose test name contains TEXT")
    parser.add_argument("--data", default=None, metavar="PATH", help="the tiny-shakespeare text file")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for each framework (default: each framework's own choice; the speed "
                             "question's torch answer depends on it, see docs/answers.md)")


def question_modules() -> list:
    """parity.questions and its siblings, the ones that exist, in curriculum order."""
    from parity import questions
    found = []
    for name in questions.MODULES:
        if importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name))
    return found


def run(args: argparse.Namespace) -> int:
    from learngpt.threads import limit_threads
    limit_threads(args.threads)  # before parity's imports start JAX
    from learngpt.data import load_corpus
    from parity import backends, questions

    names = backends.selected(args.backend)
    prof = questions.profile(args.profile)
    chosen = [(m, q) for m in question_modules() for q in m.QUESTIONS if not args.only or args.only in q.test]
    if not chosen:
        raise ValueError(f"no question's test name contains {args.only!r}")
    corpus = load_corpus(args.data)
    adapters = [backends.get(n) for n in names]
    print(f"learngpt questions: profile {prof.name} (seeds {list(prof.seeds)}), backends {', '.join(names)}")
    failed = 0
    for _, q in chosen:
        print(f"\n== {q.file}::{q.test}\nQ: {q.asks}")
        for backend in adapters:
            t0 = time.perf_counter()
            result = q.run(backend, prof, corpus)
            failed += not result.holds
            print(f"{result}\n  ({time.perf_counter() - t0:.1f} s)")
            sys.stdout.flush()
        print("A: " + q.answer.replace("\n", "\n   "))
    print(f"\n{len(chosen)} questions x {len(adapters)} backends; "
          f"{failed} claims did not hold" if failed else f"\n{len(chosen)} questions x {len(adapters)} backends: every claim held")
    return 0

"""`learngpt questions`: ask the curriculum's questions of both backends and print the answers.

For each question (learngpt_lab/questions/week1.py, then week2.py): the seed's question in English, the numbers
measured on each backend (per seed for training questions), whether the claim holds there, and the answer.
"""
from __future__ import annotations

import argparse
import sys

from learngpt_lab.runs import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default=None,
                        help="torch, flax or torch,flax (default: $LEARNGPT_BACKEND, else both)")
    parser.add_argument("--profile", choices=("default", "full"), default=None,
                        help="default: shortened training (what CI runs); full: the seed's config exactly "
                             "(default: $LEARNGPT_PROFILE, else default)")
    parser.add_argument("--only", default=None, metavar="TEXT",
                        help="ask only the questions whose test name contains TEXT")
    parser.add_argument("--data", default=None, metavar="PATH", help="the tiny-shakespeare text file")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads for each framework (default: each framework's own choice; the speed "
                             "question's torch answer depends on it, see docs/answers.md)")


def run(args: argparse.Namespace) -> int:
    from learngpt.errors import UserError
    from learngpt_lab.threads import set_threads
    set_threads(args.threads)  # before JAX starts
    from learngpt.data import load_corpus
    from learngpt_lab import backends, questions

    names = backends.selected(args.backend)
    prof = questions.profile(args.profile)
    chosen = [q for q in questions.load().values() if not args.only or args.only in q.id]
    if not chosen:
        raise UserError(f"no question's test name contains {args.only!r}")
    corpus = load_corpus(args.data) if any(q.trains for q in chosen) else None
    adapters = [backends.get(n) for n in names]
    print(f"learngpt questions: profile {prof.name} (seeds {list(prof.seeds)}), backends {', '.join(names)}")
    failed = 0
    for q in chosen:
        print(f"\n== {q.file}::{q.id}\nQ: {q.asks}")
        for backend in adapters:
            result = questions.ask(q.id, backend, corpus, prof)
            failed += not result.holds
            print(f"{result}\n  ({result.seconds:.1f} s)")
            sys.stdout.flush()
        print("A: " + q.answer.replace("\n", "\n   "))
    print(f"\n{len(chosen)} questions x {len(adapters)} backends; {failed} claims did not hold" if failed else
          f"\n{len(chosen)} questions x {len(adapters)} backends: every claim held")
    return 0

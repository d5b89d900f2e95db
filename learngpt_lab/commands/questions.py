"""`learngpt questions`: ask the curriculum's questions of both backends and print the answers.

For each question (learngpt_lab/questions/week1.py, then week2.py): the curriculum's question in English, the numbers
measured on each backend (per seed for training questions), whether the claim holds there, and the answer.
"""
from __future__ import annotations

import argparse
import sys
import time

from learngpt_lab.runs import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default=None,
                        help="torch, flax, nnx, or several comma-separated (default: $LEARNGPT_BACKEND, else every "
                             "backend)")
    parser.add_argument("--profile", choices=("default", "full", "seed"), default=None,
                        help="default: shortened training (what CI runs); full: the seed's config (5000 steps, 200 "
                             "evaluation batches); seed: each original question's own setup where it differs "
                             "(default: $LEARNGPT_PROFILE, else default)")
    parser.add_argument("--only", default=None, metavar="TEXT[,TEXT...]",
                        help="ask only the questions whose test name is or contains TEXT, or those of the test file "
                             "TEXT (test_9); several, comma-separated, are asked in the order given (a text that "
                             "names a test exactly picks that test alone) (default: every question, a long run: "
                             "--list shows what each trains)")
    parser.add_argument("--list", action="store_true",
                        help="list the questions (test file, test name, what it does, the question) and ask none "
                             "(default off)")
    parser.add_argument("--data", default=None, metavar="PATH", help="the tiny-shakespeare text file (default: $LEARNGPT_DATA, the cache, else a download)")
    parser.add_argument("--json", default=None, metavar="FILE",
                        help="also write every result to FILE (what docs/results/questions-<profile>.json are), "
                             "rewritten after each question (\"complete\": false until the last) (default: none written)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads for each framework (default: each framework's own choice); the speed "
                             "questions always time on one thread, in a process of their own")


def run(args: argparse.Namespace) -> int:
    from learngpt_lab.threads import set_threads
    set_threads(args.threads)  # before JAX starts
    from learngpt.data import load_corpus
    from learngpt_lab import backends, questions

    names = backends.selected(args.backend)
    prof = questions.profile(args.profile)
    chosen = select(questions.load(), args.only)
    if args.list:
        for q in chosen:
            does = "trains" if q.trains else "times" if q.times else "checks"
            print(f"{q.file:<8} {q.id:<64} {does:<7} {q.asks}")
        return 0
    if args.json is not None:
        from learngpt_lab import files
        files.claim(files.output_file(args.json, "--json"), "questions", "--json")  # before any work: '', a
        # folder, an unwritable place, a file of another command's set
    corpus = load_corpus(args.data) if any(q.trains for q in chosen) else None
    chosen_backends = [backends.get(n) for n in names]
    print(f"learngpt questions: profile {prof.name} (seeds {list(prof.seeds)}), backends {', '.join(names)}")
    failed, results, t0 = 0, [], time.perf_counter()
    for q in chosen:
        print(f"\n== {q.file}::{q.id}\nQ: {q.asks}")
        for backend in chosen_backends:
            result = questions.ask(q.id, backend, corpus, prof)
            results.append(result)
            failed += not result.holds
            print(f"{result}\n  ({result.seconds:.1f} s)")
            sys.stdout.flush()
        print("A: " + q.answer.replace("\n", "\n   "))
        if args.json:  # after each question: a run stopped part-way keeps what it measured
            write_json(args, prof, names, chosen, results, t0, complete=q is chosen[-1])
    print(f"\n{len(chosen)} questions x {len(chosen_backends)} backends; {failed} claims did not hold" if failed else
          f"\n{len(chosen)} questions x {len(chosen_backends)} backends: every claim held")
    if args.json:
        print(f"wrote {args.json}")
    return 0


def select(registry: dict, only: str | None) -> list:
    """The questions --only names, in its order (each text: the test named exactly, else every test of the test
    file it names, else every test containing it, in the registry's order); all of them without --only."""
    from learngpt.errors import UserError
    if only is None:
        return list(registry.values())
    chosen: list = []
    for text in (t.strip() for t in only.split(",")):
        if not text:
            raise UserError(f"--only {only!r} has an empty name")
        found = ([registry[text]] if text in registry else [q for q in registry.values() if q.file == text]
                 or [q for q in registry.values() if text in q.id])
        if not found:
            raise UserError(f"no question's test name contains {text!r}")
        chosen += [q for q in found if q not in chosen]
    return chosen


def write_json(args: argparse.Namespace, prof, names: list[str], chosen: list, results: list, t0: float,
               complete: bool) -> None:
    import json
    import os

    from learngpt_lab import files
    run = {"profile": prof.name, "seeds": list(prof.seeds), "backends": list(names), "threads": args.threads,
           "only": args.only, "complete": complete, "questions": [q.id for q in chosen],
           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": time.perf_counter() - t0,
           "load_average_at_end": list(os.getloadavg()), "results": [r.to_dict() for r in results]}
    files.write_text(args.json, json.dumps(run, indent=1))

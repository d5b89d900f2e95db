"""`learngpt parity`: every component's max abs output and gradient differences, float32 and float64, pass/fail;
or, with --torch and --flax (or --pair), the full report (the weights' mapping, outputs, gradients, every layer,
the first divergence and its likely cause) for a pair of modules you name: learngpt_lab.parity_pair does that
part.

    learngpt parity --torch mypkg.port:torch_model --flax mypkg.port:flax_model --input 4,16
    learngpt parity --torch ... --flax ... --input 2,8 --vocab 97 --rules mypkg.port:RULES --dtype both
    learngpt parity --pair port/bert.py:pair --layers

Exit status 1 when a bound is broken; mistakes in the flags are one line, status 2.
"""
from __future__ import annotations

import argparse

from learngpt.errors import UserError
from learngpt_lab.parity_pair import add_pair_arguments, given_pair_flags, load, run_pair  # noqa: F401 (load)
from learngpt_lab.runs import seed_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--component", action="append", metavar="NAME",
                        help="compare only this component (repeatable; default: all)")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of weights and inputs (default 0)")
    add_pair_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.torch or args.flax or args.pair:
        return run_pair(args)
    given = given_pair_flags(args)
    if given:
        raise UserError(f"{', '.join(given)} need --torch and --flax (a pair of your own)")
    return run_components(args)


def run_components(args: argparse.Namespace) -> int:
    from learngpt import components
    from learngpt_lab.parity_table import components_table

    names = args.component or list(components.REGISTRY)
    for n in names:
        components.get(n)  # an unknown name is refused, listing the known ones
    _, failed = components_table(names, args.seed, each=lambda line: print(line, flush=True))
    for line in failed:
        print(f"  {line}")
    return 1 if failed else 0

"""The `learngpt` command. Subcommands live in learngpt_lab/commands/ and import their frameworks lazily."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from learngpt.errors import LearngptError

# name -> one-line help; the module learngpt_lab.commands.<name> does the work
COMMANDS = {
    "compare": "train NanoGPT in torch and in Flax from the same weights and compare them side by side",
    "train": "train NanoGPT in one backend and save a checkpoint",
    "generate": "generate text from a checkpoint with either backend",
    "parity": "compare outputs, gradients and every layer across backends: each component, or your own torch/Flax pair",
    "questions": "ask the curriculum's questions of both backends and print the answers",
    "bench": "measure what jit buys: torch eager, torch.compile, jax.jit and JAX without jit",
}


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line on stderr (with a pointer to --help) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, dict]:
    parser = Parser(prog="learngpt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = {}
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # import only the module that will run (its frameworks are heavy)
            modules[name] = importlib.import_module(f"learngpt_lab.commands.{name}")
            modules[name].add_arguments(p)
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, modules = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except KeyboardInterrupt:
        print("learngpt: interrupted", file=sys.stderr)
        return 130
    except LearngptError as err:  # the project's own errors are mistakes in what was asked; the rest are bugs
        if os.environ.get("LEARNGPT_DEBUG"):
            raise
        print(f"learngpt {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

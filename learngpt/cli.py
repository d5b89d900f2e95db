"""The `learngpt` command. Subcommands live in learngpt/commands/ and import their backends lazily."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# name -> one-line help; the module learngpt.commands.<name> does the work
COMMANDS = {
    "compare": "train NanoGPT in torch and in Flax from the same weights and compare them side by side",
    "train": "train NanoGPT in one backend and save a checkpoint",
    "generate": "generate text from a checkpoint with either backend",
    "parity": "compare every component's outputs and gradients across backends (float32 and float64)",
    "questions": "ask the curriculum's questions of both backends and print the answers",
    "bench": "measure what jit buys: torch eager, torch.compile, jax.jit and JAX without jit",
}


class UserError(Exception):
    """A mistake in what the user asked for: reported as one line, no traceback."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from learngpt.data import CorpusNotFoundError
    errors: list[type[BaseException]] = [UserError, CorpusNotFoundError, ValueError, FileNotFoundError]
    try:  # the bridge's errors are ValueErrors already; listed for clarity
        from parity.bridge import WeightMismatchError
        from parity.weights import WeightsFileError
        errors += [WeightMismatchError, WeightsFileError]
    except ImportError:
        pass
    return tuple(errors)


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="learngpt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = {}
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # import only the module that will run (its backends are heavy)
            modules[name] = importlib.import_module(f"learngpt.commands.{name}")
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
    except _user_errors() as err:
        if os.environ.get("LEARNGPT_DEBUG"):
            raise
        print(f"learngpt {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

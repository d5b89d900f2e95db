"""The `learngpt` command: one subcommand per module of learngpt_lab/commands/, imported only when it runs."""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from importlib import metadata

from learngpt import signals
from learngpt.errors import LearngptError

# name -> one-line help; the module learngpt_lab.commands.<name> does the work
COMMANDS = {
    "compare": "train NanoGPT in torch and in Flax from the same weights and compare them side by side",
    "train": "train a curriculum stage (--model, default NanoGPT) in one backend and save a checkpoint, or --resume",
    "generate": "generate text from a checkpoint with either backend: greedy, or sampled (--temperature, --top-k)",
    "parity": "compare outputs, gradients and every layer across backends: each component, or your own torch/Flax pair",
    "questions": "ask the curriculum's questions of both backends and print the answers",
    "bench": "measure what jit buys: torch eager, torch.compile, jax.jit and JAX without jit",
    "lesson": "show a component's torch and Flax files side by side, annotated, with its parity numbers (--html)",
    "attention": "draw each attention head of a checkpoint, torch beside Flax, for a prompt (a PNG)",
}


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line on stderr (with a pointer to --help) and exit status 2."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # a negative number in exponent form (--learning-rate -1e-3) is a value, as -0.001 is
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


DESCRIPTION = "One GPT curriculum written in PyTorch and in Flax: read it, train it, compare and check the two."
EPILOG = """a first hour, in order:
  learngpt lesson HeadVer4                    read one component's torch and Flax files side by side
  learngpt parity --component HeadVer4        check that both compute the same numbers, layer by layer
  learngpt train --backend torch --model "GPTVer3(HeadVer4)"   train a curriculum stage
  learngpt generate --checkpoint runs/train/torch.safetensors --backend flax --temperature 0.8
  learngpt attention --checkpoint runs/train/torch.safetensors --prompt "ROMEO:"
  learngpt compare                            train NanoGPT in both from the same weights
  learngpt questions --list                   the curriculum's questions, asked of both backends
`learngpt COMMAND --help` lists each command's flags and their defaults."""


def state_defaults(parser: argparse.ArgumentParser) -> None:
    """Every flag's help says its default (or that it is required): appended where the text does not."""
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        text = action.help or ""
        if re.search(r"\b(default|required)\b", text):
            continue
        if action.required or not action.option_strings:
            tail = "required"
        elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            tail = f"default {'off' if not action.default else 'on'}"
        else:
            tail = f"default {action.default if action.default is not None else 'none'}"
        action.help = f"{text} ({tail})" if text else tail


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, dict]:
    parser = Parser(prog="learngpt", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"learngpt {metadata.version('learngpt')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = {}
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # import only the module that will run (its frameworks are heavy)
            modules[name] = importlib.import_module(f"learngpt_lab.commands.{name}")
            modules[name].add_arguments(p)
            state_defaults(p)
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    """The one entry point: Ctrl-C (or SIGTERM) at any moment is one line and exit 130 (143), the run stopped
    at once (learngpt/signals.py); a closed pipe (`| head`) ends the output quietly, exit 141 as a shell reports
    SIGPIPE; the project's own errors are one line and exit 2."""
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "learngpt"
    try:
        with signals.stopping():
            parser, modules = build_parser(argv)
            args = parser.parse_args(argv)
            command = args.command
            status = int(modules[args.command].run(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's own flush at exit
        return status
    except KeyboardInterrupt as err:
        clear = "\r\033[K" if sys.stderr.isatty() else ""  # a worker's progress bar may hold the line
        print(f"{clear}learngpt: {signals.describe(err)}", file=sys.stderr)
        return signals.status(err)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more reaches the closed pipe, at exit either
        return 141
    except LearngptError as err:  # the project's own errors are mistakes in what was asked; the rest are bugs
        if os.environ.get("LEARNGPT_DEBUG"):
            raise
        print(f"learngpt {command}: error: {err}", file=sys.stderr)
        return 2

if __name__ == "__main__":
    sys.exit(main())

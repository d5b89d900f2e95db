"""The `learngpt` command: one subcommand per module of learngpt_lab/commands/, imported only when it runs."""
from __future__ import annotations

import os
import signal
import sys


def _stopped_early(signum: int, frame) -> None:
    """Ctrl-C or SIGTERM while the command starts (its imports) or after its work (teardown): the one line and
    the status learngpt_lab/signals.py gives, at once (nothing is being written then)."""
    what = "interrupted" if signum == signal.SIGINT else f"terminated ({signal.Signals(signum).name})"
    os.write(2, f"learngpt: {what}\n".encode())
    os._exit(128 + signum)


# The process's own entry (the console script, python -m): from its first instruction here to its last, a signal
# is one line; the imports below take a few tenths of a second. Imported by other code, nothing is installed.
# (A worker process that multiprocessing spawns re-imports the console script, with its argv: not an entry.)
ENTRY = (__name__ == "__main__" or os.path.basename(sys.argv[0] if sys.argv else "") == "learngpt") and \
    "multiprocessing.spawn" not in sys.modules
if ENTRY:
    for _s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_s, _stopped_early)

import argparse  # noqa: E402
import importlib  # noqa: E402
import re  # noqa: E402
from importlib import metadata  # noqa: E402

from learngpt_lab import signals  # noqa: E402
from learngpt.errors import LearngptError  # noqa: E402

# name -> one-line help; the module learngpt_lab.commands.<name> does the work
COMMANDS = {
    "compare": "train NanoGPT in torch and in Flax from the same weights and compare them side by side",
    "train": "train a curriculum stage (--model, default NanoGPT) in one backend and save a checkpoint, or --resume",
    "generate": "generate text from a checkpoint with either backend: greedy, or sampled (--temperature, --top-k)",
    "parity": "compare outputs, gradients and every layer across backends: each component, or your own torch/Flax pair",
    "questions": "ask the curriculum's questions of both backends and print the answers",
    "bench": ("measure what jit buys: torch eager, torch.compile, jax.jit and JAX without jit (linen), nnx.jit and "
              "NNX without jit"),
    "lesson": "show a component's torch and Flax files side by side, annotated, with its parity numbers (--html)",
    "attention": "draw each attention head of a checkpoint, torch beside Flax, for a prompt (a PNG)",
    "exercise": "each TODO of the curriculum as an exercise in torch, linen or NNX, graded against the torch reference",
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


def debugging() -> bool:
    """$LEARNGPT_DEBUG set to a true value (1, true, yes, on): the project's errors show their traceback."""
    return os.environ.get("LEARNGPT_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def main(argv: list[str] | None = None) -> int:
    """The one entry point: Ctrl-C (or SIGTERM) at any moment is one line and exit 130 (143), the run stopped
    at once (learngpt_lab/signals.py); a closed pipe (`| head`) ends the output quietly, exit 141 as a shell reports
    SIGPIPE; the project's own errors are one line and exit 2. As the process's entry (argv None, ENTRY), the
    process ends here (finish): no interpreter teardown after the work, where a signal would kill it raw."""
    if argv is None and ENTRY:
        try:
            status = run_command(sys.argv[1:])
        except SystemExit as done:  # --help, --version, argparse's own refusal: their status, then finish
            status = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
            if done.code is not None and not isinstance(done.code, int):
                print(done.code, file=sys.stderr)
        finish(status)
    return run_command(sys.argv[1:] if argv is None else argv)


def finish(status: int) -> None:
    """End the process with status after what the interpreter's exit would run (threads joined, atexit), a
    signal meanwhile the one line (_stopped_early); the interpreter's own teardown, which resets the signal
    handlers to the system's defaults, never runs."""
    import atexit
    import threading
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _stopped_early)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    shutdown = getattr(threading, "_shutdown", None)  # what the interpreter's exit does first: join the threads
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def run_command(argv: list[str]) -> int:
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
    except Exception as err:  # learngpt's and parity's own errors are mistakes in what was asked; the rest are bugs
        if not users_mistake(err) or debugging():
            raise
        print(f"learngpt {command}: error: {err}", file=sys.stderr)
        return 2


def users_mistake(err: BaseException) -> bool:
    """An error learngpt or parity raised on purpose for a mistake in what was asked (parity's are looked up
    only where a command imported parity, so that the command line starts without it)."""
    parity = sys.modules.get("parity.errors")
    return isinstance(err, LearngptError) or parity is not None and isinstance(err, parity.ParityUsageError)


if __name__ == "__main__":
    sys.exit(main())

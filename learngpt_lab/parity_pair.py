"""`learngpt parity` for a pair of your own (learngpt_lab.commands.parity): the flags, the factories, the inputs
and the report, through parity.check.compare; a mistake in what is given is one line (UserError), the models'
failures named by their flag.

    learngpt parity --torch mypkg.port:torch_model --flax mypkg.port:flax_model --input 4,16
    learngpt parity --pair port/bert.py:pair --dtype both --layers

A pair factory returns (torch_module, flax_module, inputs[, flax_kwargs]) or a dict of compare's keywords
(PAIR_KEYS); a factory is called with no arguments, or with dtype= where it takes one.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import importlib.util
import inspect
import math
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from learngpt.errors import UserError
from parity.errors import ParityUsageError, first_line

PAIR_FLAGS = ("torch", "flax", "pair", "input", "vocab", "rules", "dtype", "loss", "deterministic", "layers", "layout",
              "train")
INPUT_MEMORY_SHARE = 64  # the input may take at most 1/64 of the machine's memory: the model's activations are larger
PAIR_KEYS = ("torch", "flax", "inputs", "flax_kwargs", "torch_kwargs", "targets", "loss", "rules", "variables",
             "overrides", "exclude_layers", "pair_layers", "layout", "layouts", "train", "output_names",
             "train_steps", "optimizer", "batches", "lr", "bound")


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    pair = parser.add_argument_group(
        "your own pair (instead of the components)",
        "--torch, --flax and --pair import MODULE (or run FILE.py) and call FACTORY: your code runs, with your "
        "rights. MODULE is found in the environment first, then in the current folder (a torch.py there cannot "
        "replace PyTorch).")
    pair.add_argument("--torch", metavar="MODULE:FACTORY", help="a function returning the torch.nn.Module "
                      "(MODULE a module path, or a file path/to/port.py)")
    pair.add_argument("--flax", metavar="MODULE:FACTORY", help="a function returning the flax.linen.Module (or a "
                      "flax.nnx.Module)")
    pair.add_argument("--pair", metavar="MODULE:FACTORY", help="a function returning (torch_module, flax_module, "
                      "inputs[, flax_kwargs]) or a dict of compare's keywords: several inputs, masks, targets")
    pair.add_argument("--input", metavar="SHAPE", help="the input's shape, e.g. 4,16 (floats) or 2,8 with --vocab")
    pair.add_argument("--vocab", type=int, metavar="N", help="the input is token ids in [0, N)")
    pair.add_argument("--loss", choices=("cross_entropy",), help="compare a loss of the first output against "
                      "random targets in [0, --vocab) of the input's shape (needs --vocab)")
    pair.add_argument("--deterministic", action="store_true",
                      help="call the Flax module with deterministic=True (a port whose dropout needs an rng)")
    pair.add_argument("--rules", metavar="MODULE:NAME", help="a parity.rules.Rules (default: parity's DEFAULT_RULES)")
    pair.add_argument("--dtype", choices=("float32", "float64", "both"), help="default float32")
    pair.add_argument("--layout", metavar="TORCH:FLAX", help="the model's inputs and outputs lie so, e.g. NCHW:NHWC "
                      "(the Flax side is given the inputs moved); inside, layouts follow what was carried")
    pair.add_argument("--train", action="store_true", help="compare train mode: outputs, gradients and the updated "
                      "BatchNorm statistics (refused with dropout active)")
    pair.add_argument("--layers", action="store_true",
                      help="also print, per layer, its Flax twin and the inputs compared (by name or position)")


def given_pair_flags(args: argparse.Namespace) -> list[str]:
    return [f"--{f}" for f in PAIR_FLAGS if getattr(args, f, None) not in (None, False)]


def _from_file(path: str, flag: str, spec: str):
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{flag} {spec!r}: no file {path!r}")
    name = f"_parity_user_{abs(hash(str(file.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, file)
    if module_spec is None or module_spec.loader is None:
        raise UserError(f"{flag} {spec!r}: {path!r} cannot be loaded as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    folder = str(file.resolve().parent)
    if folder not in sys.path:  # a module beside the file imports as it would beside a script
        sys.path.append(folder)
    try:
        with _theirs(f"{flag} {spec!r}: running {path}"):
            module_spec.loader.exec_module(module)
    except UserError:
        del sys.modules[name]
        raise
    return module


@contextlib.contextmanager
def _theirs(what: str):
    """The user's code runs here: its failure, and its own exit (sys.exit, a KeyboardInterrupt it raises),
    are one line naming it, never the tool's own result. A SIGINT or SIGTERM that arrives meanwhile (main
    thread) goes to the handler it had before, and the KeyboardInterrupt that raises stops the run as anywhere."""
    main = threading.current_thread() is threading.main_thread()
    before = {s: h for s in (signal.SIGINT, signal.SIGTERM) if main and callable(h := signal.getsignal(s))}
    stopped: list[int] = []

    def note(signum, frame):
        stopped.append(signum)
        return before[signum](signum, frame)

    for s in before:
        signal.signal(s, note)
    try:
        yield
    except ParityUsageError:
        raise
    except SystemExit as err:
        raise UserError(f"{what} called sys.exit({err.code!r}); a factory returns its modules") from None
    except KeyboardInterrupt as err:
        if stopped:
            raise
        raise UserError(f"{what} raised KeyboardInterrupt{': ' + first_line(err) if str(err) else ''}") from None
    except Exception as err:  # the user's code: any failure is theirs to fix, named in one line
        raise UserError(f"{what} raised {type(err).__name__}: {first_line(err)}") from err
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def load(spec: str, flag: str):
    """The object named 'pkg.module:name' (importable from the environment, else from the current folder:
    appended to sys.path, so that a file there never shadows an installed package) or 'path/to/file.py:name'."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"{flag} {spec!r}: expected MODULE:NAME or FILE.py:NAME, e.g. mypkg.port:torch_model")
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        module = _from_file(module_name, flag, spec)
    else:
        if os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
        try:
            with _theirs(f"{flag} {spec!r}: importing {module_name}"):
                module = importlib.import_module(module_name)
        except UserError as err:
            if isinstance(err.__cause__, ImportError):
                raise UserError(f"{flag} {spec!r}: cannot import {module_name!r} ({err.__cause__}; a file is given "
                                f"as path/to/file.py:NAME)") from None
            raise
    try:
        return functools.reduce(getattr, attr.split("."), module)
    except AttributeError:
        raise UserError(f"{flag} {spec!r}: module {module_name!r} has no attribute {attr!r}") from None


def parse_shape(text: str, itemsize: int = 8) -> tuple[int, ...]:
    """--input's shape, refused before anything is allocated above 1/INPUT_MEMORY_SHARE of the machine's memory."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise UserError(f"--input {text!r}: expected comma-separated positive sizes, e.g. 4,16 or 2,8,16")
    values = math.prod(shape)
    try:
        memory = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # the system does not say
        memory = 0
    limit = memory // INPUT_MEMORY_SHARE if memory else 2 ** 31
    if values * itemsize > limit:
        raise UserError(f"--input {text!r}: {values:,} values ({values * itemsize / 1e9:,.1f} GB) exceed the limit "
                        f"of {limit / 1e9:.1f} GB (1/{INPUT_MEMORY_SHARE} of this machine's memory: the model's "
                        f"activations are larger than its input)")
    return shape


def parse_layout(text: str) -> tuple[str, str]:
    torch_side, sep, flax_side = text.partition(":")
    if not sep or sorted(torch_side) != sorted(flax_side) or not torch_side.isalpha() or \
            torch_side[:2] != torch_side[:1] + "C" or flax_side[-1:] != "C":
        raise UserError(f"--layout {text!r}: expected TORCH:FLAX, the same axes batch first, torch's channels "
                        f"second and Flax's last, e.g. NCHW:NHWC")
    return torch_side.upper(), flax_side.upper()


def build(factory, dtype: str, flag: str, spec: str):
    """Call a factory, with dtype= where it takes one; a signature that needs more is one line."""
    if not callable(factory):
        raise UserError(f"{flag}: {factory!r} is not callable; expected a function returning the module")
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    required = [n for n, p in params.items() if n != "dtype" and p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if required:
        raise UserError(f"{flag} {spec!r} needs the argument{'s' if len(required) > 1 else ''} "
                        f"{', '.join(required)}; expected a factory callable with no arguments (or dtype=)")
    with _theirs(f"{flag} {spec!r}"):
        return factory(dtype=dtype) if "dtype" in params else factory()


def _pair_from(value, spec: str) -> dict[str, Any]:
    """The pair factory's result as compare's keywords (module docstring)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(PAIR_KEYS))
        missing = [k for k in ("torch", "flax", "inputs") if k not in value]
        if unknown or missing:
            raise UserError(f"--pair {spec!r} returned a dict " + (f"with unknown keys {unknown}" if unknown else
                            f"without {', '.join(missing)}") + f"; expected keys among {', '.join(PAIR_KEYS)}")
        return dict(value)
    if isinstance(value, tuple) and len(value) in (3, 4):
        return dict(zip(("torch", "flax", "inputs", "flax_kwargs"), value))
    raise UserError(f"--pair {spec!r} returned {type(value).__name__}"
                    f"{f' of {len(value)}' if isinstance(value, tuple) else ''}; expected (torch_module, "
                    f"flax_module, inputs[, flax_kwargs]) or a dict of compare's keywords")


def _run_compare(compare, tmod, fmod, inputs, what: str, vocab: int | None, **kwargs):
    """compare, with the models' failures on the input (a width that does not fit, ids past the embedding)
    named in one line: a mistake in the flags, not a parity result."""
    try:
        return compare(tmod, fmod, inputs, **kwargs)
    except ParityUsageError:
        raise
    except IndexError as err:
        if vocab is not None:
            import torch
            rows = [f"{n} {m.num_embeddings}" for n, m in tmod.named_modules() if isinstance(m, torch.nn.Embedding)]
            raise UserError(f"--vocab {vocab}: token ids up to {vocab - 1} do not fit the model ({first_line(err)}); "
                            f"its embeddings have rows: {', '.join(rows) or 'none'}") from err
        raise UserError(f"{what}: the models cannot run on it: IndexError: {first_line(err)}") from err
    except Exception as err:  # the user's models, on the user's inputs (LEARNGPT_DEBUG=1 shows where)
        raise UserError(f"{what}: the models cannot run on it: {type(err).__name__}: {first_line(err)}") from err


def run_pair(args: argparse.Namespace) -> int:
    if getattr(args, "component", None):
        raise UserError("--component compares the curriculum's components; leave it out with --torch/--flax")
    given = [f"--{f}" for f in ("torch", "flax", "input") if getattr(args, f)]
    missing = [f"--{f}" for f in ("torch", "flax", "input") if getattr(args, f) is None]
    if args.pair and given:
        raise UserError(f"--pair gives the modules and inputs; leave out {', '.join(given)}")
    if not args.pair and missing:
        raise UserError(f"a pair needs --torch, --flax and --input; missing {', '.join(missing)} (or give --pair)")
    if args.vocab is not None and args.vocab < 1:
        raise UserError(f"--vocab {args.vocab}: expected a positive vocabulary size")
    if args.pair and args.vocab is not None:
        raise UserError("--vocab draws the --input's token ids; with --pair the factory gives the inputs")
    if args.loss and (args.vocab is None):
        raise UserError("--loss draws targets in [0, --vocab): give --vocab (or a --pair factory with targets)")
    shape = None if args.input is None else parse_shape(args.input)
    factories = ({"--pair": load(args.pair, "--pair")} if args.pair else
                 {"--torch": load(args.torch, "--torch"), "--flax": load(args.flax, "--flax")})
    rules = load(args.rules, "--rules") if args.rules else None

    import flax.linen as nn
    import numpy as np
    import torch

    from parity.check import compare
    from parity.nnx import is_nnx
    from parity.rules import DEFAULT_RULES, Rules
    if rules is not None and not isinstance(rules, Rules):
        raise UserError(f"--rules {args.rules!r} is a {type(rules).__name__}; expected a parity.rules.Rules "
                        f"(e.g. DEFAULT_RULES.extend(...))")
    failed = False
    for dtype in (("float32", "float64") if args.dtype == "both" else (args.dtype or "float32",)):
        torch.manual_seed(args.seed)
        if args.pair:
            keywords = _pair_from(build(factories["--pair"], dtype, "--pair", args.pair), args.pair)
            torch_flag, flax_flag = (f"--pair {args.pair!r} gave, as {side}," for side in ("torch", "flax"))
        else:
            keywords = {side: build(factories[f"--{side}"], dtype, f"--{side}", getattr(args, side))
                        for side in ("torch", "flax")}
            torch_flag, flax_flag = (f"--{side} {getattr(args, side)!r} returned" for side in ("torch", "flax"))
        tmod, fmod = keywords.pop("torch"), keywords.pop("flax")
        if not isinstance(tmod, torch.nn.Module):
            raise UserError(f"{torch_flag} a {type(tmod).__name__}; expected a torch.nn.Module")
        if not isinstance(fmod, nn.Module) and not is_nnx(fmod):
            raise UserError(f"{flax_flag} a {type(fmod).__name__}; expected a flax.linen.Module or flax.nnx.Module")
        tmod = tmod.double() if dtype == "float64" else tmod.float()
        if args.pair:
            inputs = keywords.pop("inputs")
            inputs = tuple(np.asarray(x) for x in inputs) if isinstance(inputs, (tuple, list)) else np.asarray(inputs)
            what = f"--pair {args.pair!r}'s inputs"
            if keywords.get("train_steps"):  # a trajectory: the batches are its inputs
                if "batches" not in keywords:
                    raise UserError(f"--pair {args.pair!r} gave train_steps without batches ((inputs, targets) pairs)")
                inputs, what = keywords.pop("batches"), f"--pair {args.pair!r}'s batches"
        else:
            rng = np.random.default_rng(args.seed + 1)
            inputs = (rng.integers(0, args.vocab, size=shape) if args.vocab else
                      rng.standard_normal(shape).astype(dtype))  # the one input, SHAPE
            what = f"--input {args.input!r}"
            if args.loss:
                keywords.update(loss=args.loss, targets=rng.integers(0, args.vocab, size=shape))
        flax_kwargs = dict(keywords.pop("flax_kwargs", None) or {})
        if args.deterministic and not is_nnx(fmod):  # an NNX module runs in eval mode anyway
            flax_kwargs["deterministic"] = True
        keywords.setdefault("rules", rules or DEFAULT_RULES)
        keywords |= {"layout": parse_layout(args.layout)} if args.layout else {}
        keywords |= {"train": True} if args.train else {}
        report = _run_compare(compare, tmod, fmod, inputs, what, args.vocab, flax_kwargs=flax_kwargs, dtype=dtype,
                              seed=args.seed + 2, name=args.pair or f"{args.torch} vs {args.flax}", **keywords)
        if getattr(report, "mapping", None):
            print(report.mapping_table())
        print(report, flush=True)
        if args.layers and getattr(report, "layers", None):
            print("layers, their Flax twins and the inputs compared:\n" + report.layer_detail(), flush=True)
        failed = failed or not report.ok
    return 1 if failed else 0

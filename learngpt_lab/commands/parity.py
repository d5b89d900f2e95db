"""`learngpt parity`: every component's max abs output and gradient differences, float32 and float64, pass/fail;
or, with --torch and --flax, the full report (outputs, gradients, every layer, the first divergence) for a pair
of modules you name.

    learngpt parity --torch mypkg.port:torch_model --flax mypkg.port:flax_model --input 4,16
    learngpt parity --torch ... --flax ... --input 2,8 --vocab 97 --rules mypkg.port:RULES --dtype both

Each factory is called with no arguments (or with dtype='float32'/'float64' where it takes a `dtype`) and
returns the module: the torch factory a torch.nn.Module, initialised after torch.manual_seed(--seed), the Flax
factory a flax.linen.Module. The Flax parameters are torch's weights carried over by the rules (the default
rules, or a parity.rules.Rules object named by --rules): whether the port computes the same function from the
same weights is the question. --input is the shape of the one input: standard-normal floats, or with --vocab
token ids in [0, vocab). Exit status 1 when a bound is broken; mistakes in the flags are one line, status 2.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import os
import sys

from learngpt.errors import UserError
from learngpt_lab.runs import seed_int

PAIR_FLAGS = ("torch", "flax", "input", "vocab", "rules", "dtype")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--component", action="append", metavar="NAME",
                        help="compare only this component (repeatable; default: all)")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of weights and inputs (default 0)")
    pair = parser.add_argument_group(
        "your own pair (instead of the components)",
        "--torch and --flax import MODULE and call FACTORY: your code runs, with your rights. MODULE is found in "
        "the environment first, then in the current folder (a torch.py there cannot replace PyTorch).")
    pair.add_argument("--torch", metavar="MODULE:FACTORY", help="a function returning the torch.nn.Module")
    pair.add_argument("--flax", metavar="MODULE:FACTORY", help="a function returning the flax.linen.Module")
    pair.add_argument("--input", metavar="SHAPE", help="the input's shape, e.g. 4,16 (floats) or 2,8 with --vocab")
    pair.add_argument("--vocab", type=int, metavar="N", help="the input is token ids in [0, N)")
    pair.add_argument("--rules", metavar="MODULE:NAME", help="a parity.rules.Rules (default: parity's DEFAULT_RULES)")
    pair.add_argument("--dtype", choices=("float32", "float64", "both"), help="default float32")


def run(args: argparse.Namespace) -> int:
    if args.torch or args.flax:
        return run_pair(args)
    given = [f"--{f}" for f in PAIR_FLAGS if getattr(args, f) is not None]
    if given:
        raise UserError(f"{', '.join(given)} need --torch and --flax (a pair of your own)")
    return run_components(args)


def run_components(args: argparse.Namespace) -> int:
    from learngpt import components
    from parity.numerics import DTYPES, GRAD_BOUND, GRAD_RELATIVE, OUTPUT_BOUND, component_report

    names = args.component or list(components.REGISTRY)
    for n in names:
        components.get(n)  # an unknown name is refused, listing the known ones
    bounds = "  ".join(f"{d}: output <= {OUTPUT_BOUND[d]:.0e}, gradient <= {GRAD_BOUND[d]:.0e}"
                       f"{' relative' if GRAD_RELATIVE[d] else ''}" for d in DTYPES)
    print(f"max |torch - flax| over outputs and over gradients (every parameter and the input); bounds {bounds}")
    width = max(len(n) for n in names)
    print(f"{'component':<{width}}  {'out f32':>9}  {'grad f32':>9}  {'out f64':>9}  {'grad f64':>9}  result")
    failed = []
    for name in names:
        cells, ok = [], True
        for dtype in DTYPES:
            report = component_report(name, dtype=dtype, seed=args.seed)
            outputs = [r for r in report.rows if not r.tensor.startswith("grad[")]
            grads = [r for r in report.rows if r.tensor.startswith("grad[")]
            cells += [max((r.diff for r in outputs), default=0.0), max((r.diff for r in grads), default=0.0)]
            if not report.ok:
                ok = False
                failed += report.failures()
        print(f"{name:<{width}}  " + "  ".join(f"{c:9.2e}" for c in cells) + f"  {'pass' if ok else 'FAIL'}",
              flush=True)
    for line in failed:
        print(f"  {line}")
    print(f"{len(names) - len({f.split(' [')[0] for f in failed})}/{len(names)} components pass")
    return 1 if failed else 0


def load(spec: str, flag: str):
    """The object named 'pkg.module:name' (importable from the environment, else from the current folder:
    appended to sys.path, so that a file there never shadows an installed package)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"{flag} {spec!r}: expected MODULE:NAME, e.g. mypkg.port:torch_model")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UserError(f"{flag} {spec!r}: cannot import {module_name!r} ({err})") from None
    try:
        return functools.reduce(getattr, attr.split("."), module)
    except AttributeError:
        raise UserError(f"{flag} {spec!r}: module {module_name!r} has no attribute {attr!r}") from None


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise UserError(f"--input {text!r}: expected comma-separated positive sizes, e.g. 4,16 or 2,8,16")
    return shape


def build(factory, dtype: str, flag: str):
    """Call a factory, with dtype= where it takes one."""
    if not callable(factory):
        raise UserError(f"{flag}: {factory!r} is not callable; expected a function returning the module")
    try:
        takes_dtype = "dtype" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_dtype = False
    return factory(dtype=dtype) if takes_dtype else factory()


def run_pair(args: argparse.Namespace) -> int:
    if args.component:
        raise UserError("--component compares the curriculum's components; leave it out with --torch/--flax")
    missing = [f"--{f}" for f in ("torch", "flax", "input") if getattr(args, f) is None]
    if missing:
        raise UserError(f"a pair needs --torch, --flax and --input; missing {', '.join(missing)}")
    shape = parse_shape(args.input)
    if args.vocab is not None and args.vocab < 1:
        raise UserError(f"--vocab {args.vocab}: expected a positive vocabulary size")
    torch_factory, flax_factory = load(args.torch, "--torch"), load(args.flax, "--flax")
    rules = load(args.rules, "--rules") if args.rules else None

    import flax.linen as nn
    import numpy as np
    import torch

    from parity.check import compare
    from parity.rules import DEFAULT_RULES, Rules

    if rules is not None and not isinstance(rules, Rules):
        raise UserError(f"--rules {args.rules!r} is a {type(rules).__name__}; expected a parity.rules.Rules "
                        f"(e.g. DEFAULT_RULES.extend(...))")
    failed = False
    for dtype in (("float32", "float64") if args.dtype == "both" else (args.dtype or "float32",)):
        torch.manual_seed(args.seed)
        tmod = build(torch_factory, dtype, "--torch")
        if not isinstance(tmod, torch.nn.Module):
            raise UserError(f"--torch {args.torch!r} returned a {type(tmod).__name__}; expected a torch.nn.Module")
        tmod = tmod.double() if dtype == "float64" else tmod.float()
        fmod = build(flax_factory, dtype, "--flax")
        if not isinstance(fmod, nn.Module):
            raise UserError(f"--flax {args.flax!r} returned a {type(fmod).__name__}; expected a flax.linen.Module")
        rng = np.random.default_rng(args.seed + 1)
        x = (rng.integers(0, args.vocab, size=shape) if args.vocab else
             rng.standard_normal(shape).astype(dtype))  # the one input, SHAPE
        report = compare(tmod, fmod, x, rules=rules or DEFAULT_RULES, dtype=dtype, seed=args.seed + 2,
                         name=f"{args.torch} vs {args.flax}")
        print(report, flush=True)
        failed = failed or not report.ok
    return 1 if failed else 0

"""`learngpt lesson COMPONENT`: the torch and Flax files of a component side by side, aligned line for line and
annotated from the mirror table, then its parity (recorded, live, per layer) and weight mapping; --html FILE
writes the same as one self-contained page (learngpt_lab/lesson.py builds both)."""
from __future__ import annotations

import argparse
import shutil
import sys

from learngpt_lab.runs import positive_int, seed_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("component", metavar="COMPONENT",
                        help="a registry name (BlockVer4, MultiHeadVer2, NanoGPT, GPTVer3(HeadVer4), ...), a class "
                             "(GPTVer4) or a mirrored file's stem (lm, trainer) (required)")
    parser.add_argument("--with", dest="also", choices=("nnx",), default=None,
                        help="also show Flax NNX: linen beside NNX after torch beside linen, and NNX's parity "
                             "(default: torch and linen only)")
    parser.add_argument("--html", metavar="FILE", default=None,
                        help="also write the lesson as one self-contained HTML page to FILE (default: none)")
    parser.add_argument("--width", type=positive_int, default=None,
                        help="terminal columns to fill (default: the terminal's width, at least 100)")
    parser.add_argument("--no-live", action="store_true",
                        help="skip the live parity check and its per-layer table (default: run it, seconds)")
    parser.add_argument("--seed", type=seed_int, default=0,
                        help="seed of the live check's weights and inputs (default 0, as `learngpt parity`)")


def run(args: argparse.Namespace) -> int:
    from learngpt_lab import files, lesson

    sides = ("torch", "flax") + ((args.also,) if args.also else ())
    found = lesson.build(args.component, sides)
    target = None
    if args.html is not None:  # '' is refused (files.output_file), never taken for "no page"
        target = files.claim(files.output_file(args.html, "--html"), "lesson", "--html")
    if found.parity_component is not None:
        found.recorded, found.recorded_when = lesson.recorded(found.parity_component)
        if not args.no_live:
            live(found, sides[1:], args.seed)
    width = args.width or max(100, shutil.get_terminal_size((200, 40)).columns)
    print(lesson.terminal(found, width))
    if target is not None:
        files.write_text(target, lesson.page(found))
        print(f"learngpt lesson: wrote {target}", file=sys.stderr)
    return 0


def live(found, jax_sides: tuple[str, ...], seed: int) -> None:
    """The live check `learngpt parity --component` runs, with its per-layer table, for each JAX side."""
    from tqdm import tqdm

    from learngpt_lab.parity_table import DTYPES, component_report

    with tqdm(total=len(jax_sides) * len(DTYPES), desc="live parity", leave=False) as bar:
        for side in jax_sides:
            for dtype in DTYPES:
                report = component_report(found.parity_component, dtype=dtype, seed=seed, jax_side=side)
                found.live.append(f"live: `learngpt parity --component {found.parity_component}`'s check, torch "
                                  f"against {side}, seed {seed}:\n{report.table()}")
                if dtype == "float32":
                    found.mapping[side] = list(report.mapping)
                bar.update()

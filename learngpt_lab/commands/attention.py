"""`learngpt attention --checkpoint FILE --prompt TEXT [--out PNG]`: each attention head of the checkpoint's
model on the prompt, torch's beside Flax's (learngpt/attention_maps.py draws them)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="FILE",
                        help="a .safetensors checkpoint from train or compare, either backend (required)")
    parser.add_argument("--prompt", required=True,
                        help="the text whose attention is drawn: at most block_size characters of the vocabulary "
                             "(required)")
    parser.add_argument("--out", default="attention.png", metavar="PNG",
                        help="the image to write (default attention.png)")
    parser.add_argument("--backends", default="torch,flax",
                        help="the backends drawn, one row each, comma-separated: torch, flax, nnx (default "
                             "torch,flax)")


def run(args: argparse.Namespace) -> int:
    from learngpt import attention_maps, files
    from learngpt_lab import backends

    target = files.output_file(args.out, "--out")
    loaded = {name: (backends.get(name), *backends.get(name).load_checkpoint(args.checkpoint))
              for name in backends.selected(args.backends)}
    found = attention_maps.collect(loaded, args.prompt)
    ckpt = next(iter(loaded.values()))[2]
    title = (f"attention of {ckpt.architecture.describe(ckpt.config)} ({args.checkpoint}, step {ckpt.step}) on "
             f"{args.prompt!r}: each head torch beside Flax")
    for line in attention_maps.draw(found, args.prompt, title, target):
        print(line)
    print(f"wrote {target}")
    return 0

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
    import numpy as np

    from learngpt import attention_maps, files
    from learngpt.data import CharTokenizer
    from learngpt.errors import InputError
    from learngpt_lab import backends

    names = backends.selected(args.backends)
    target = files.output_file(args.out, "--out")
    found, ckpt = {}, None
    for name in names:
        backend = backends.get(name)
        model, ckpt = backend.load_checkpoint(args.checkpoint)
        if ckpt is not None and len(args.prompt) > ckpt.config.block_size:
            raise InputError(f"--prompt has {len(args.prompt)} characters; this model attends over at most "
                             f"block_size {ckpt.config.block_size}")
        if not args.prompt:
            raise InputError("--prompt is empty; give at least one character")
        idx = CharTokenizer(ckpt.vocab).encode(args.prompt)[None, :].astype(np.int64)  # (1, T)
        found[name] = attention_maps.maps(backend.intermediates(model, idx))
    title = (f"attention of {ckpt.architecture.describe(ckpt.config)} ({args.checkpoint}, step {ckpt.step}) on "
             f"{args.prompt!r}: each head torch beside Flax")
    for line in attention_maps.draw(found, args.prompt, title, target):
        print(line)
    print(f"wrote {target}")
    return 0

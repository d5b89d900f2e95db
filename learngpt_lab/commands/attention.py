"""`learngpt attention --checkpoint FILE --prompt TEXT [--out PNG]`: each attention head of the checkpoint's
model on the prompt, torch's beside Flax's (learngpt_lab/attention_maps.py draws them)."""
from __future__ import annotations

import argparse

from learngpt.errors import DivergedError


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

    from learngpt_lab import attention_maps, files
    from learngpt.data import CharTokenizer
    from learngpt_lab import backends

    names = backends.parse(args.backends, "--backends")  # '' is refused, as compare refuses it
    target = files.output_file(args.out, "--out")
    files.refuse_inputs(target, "--out", {"--checkpoint": args.checkpoint})  # the PNG never replaces its source
    files.claim(target, "attention", "--out")
    loaded = {}
    for name in names:
        backend = backends.get(name)
        with backend.on("cpu"):  # JAX told of no CPU platform (JAX_PLATFORMS): one line, as train says it
            loaded[name] = (backend, *backend.load_checkpoint(args.checkpoint))  # non-finite logits refused
    found = attention_maps.collect(loaded, args.prompt)  # the prompt checked: empty, too long, unknown characters
    for name, (backend, model, ckpt) in loaded.items():
        idx = CharTokenizer(ckpt.vocab).encode(args.prompt)[None, :].astype(np.int64)  # (1, T)
        with backend.on("cpu"):
            backend.check_logits(model, idx, f"{args.checkpoint} on --prompt {args.prompt!r}")
        bad = [path for path, a in found[name].items() if not np.isfinite(a).all()]
        if bad:
            raise DivergedError(f"{args.checkpoint}: {name}'s attention at {', '.join(bad)} is not finite (NaN or "
                                f"infinity) on --prompt {args.prompt!r}; nothing drawn")
    ckpt = next(iter(loaded.values()))[2]
    title = (f"attention of {ckpt.architecture.describe(ckpt.config)} ({args.checkpoint}, step {ckpt.step}) on "
             f"{args.prompt!r}: each head torch beside Flax")
    for line in attention_maps.draw(found, args.prompt, title, target):
        print(line)
    print(f"wrote {target}")
    return 0

"""`learngpt generate --checkpoint FILE --backend {torch,flax} --prompt TEXT`: text from any checkpoint."""
from __future__ import annotations

import argparse

from learngpt_lab.runs import positive_int, seed_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="FILE",
                        help="a .safetensors checkpoint from either backend")
    parser.add_argument("--backend", default="torch", help="torch or flax (default torch)")
    parser.add_argument("--prompt", default="\n", help="text to continue; its characters must be in the vocabulary")
    parser.add_argument("--tokens", type=positive_int, default=300, help="characters to generate (default 300)")
    parser.add_argument("--greedy", action="store_true", help="argmax decoding instead of sampling")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of the backend's sampling rng (default 0)")


def run(args: argparse.Namespace) -> int:
    from learngpt_lab import backends
    from learngpt_lab.runs import sample_text

    backend = backends.get(args.backend)
    model, ckpt = backend.load_checkpoint(args.checkpoint)
    print(sample_text(backend, model, ckpt.vocab, args.tokens, args.prompt, args.seed, args.greedy))
    return 0

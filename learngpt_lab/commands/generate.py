"""`learngpt generate --checkpoint FILE --backend {torch,flax,nnx} --prompt TEXT`: text from any checkpoint (any of the
curriculum's language models), greedy or sampled with a temperature and top-k (learngpt/sampling.py)."""
from __future__ import annotations

import argparse

from learngpt_lab.runs import positive_int, seed_int


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="FILE",
                        help="a .safetensors checkpoint from either backend's train or compare (required)")
    from learngpt_lab.backends import spelled
    parser.add_argument("--backend", default="torch", help=f"{spelled()} (default torch)")
    parser.add_argument("--prompt", default="\n",
                        help="text to continue; its characters must be in the vocabulary (default a newline)")
    parser.add_argument("--tokens", type=positive_int, default=300, help="characters to generate (default 300)")
    parser.add_argument("--greedy", action="store_true",
                        help="argmax decoding instead of sampling; --temperature and --top-k then change nothing "
                             "(default: sample)")
    parser.add_argument("--temperature", type=positive_float, default=1.0, metavar="T",
                        help="divide the logits by T before sampling: below 1 sharper, towards 0 greedy, above 1 "
                             "flatter (default 1.0: the model's own distribution)")
    parser.add_argument("--top-k", type=positive_int, default=None, metavar="K",
                        help="sample among the K most likely characters only; 1 is greedy (default: all)")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of the backend's sampling rng (default 0)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from learngpt import sampling
    from learngpt.data import CharTokenizer
    from learngpt.errors import InputError
    from learngpt_lab import backends

    backend = backends.get(args.backend)
    with backend.on("cpu"):  # JAX told of no CPU platform (JAX_PLATFORMS): one line, as train says it
        model, ckpt = backend.load_checkpoint(args.checkpoint)  # a model with non-finite logits: refused
        try:
            idx = CharTokenizer(ckpt.vocab).encode(args.prompt)[None, -ckpt.config.block_size:]  # (1, T)
        except InputError:
            idx = None  # sampling.text names the characters outside the vocabulary
        if idx is not None and idx.shape[1]:
            backend.check_logits(model, idx.astype(np.int64), f"{args.checkpoint} on --prompt {args.prompt!r}")
        print(sampling.text(backend, model, ckpt.vocab, args.tokens, args.prompt, args.seed, args.greedy,
                            args.temperature, args.top_k))
    return 0

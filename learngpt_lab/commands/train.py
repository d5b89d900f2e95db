"""`learngpt train --backend {torch,flax}`: train NanoGPT in one backend and save a checkpoint."""
from __future__ import annotations

import argparse
import time

from learngpt_lab.runs import add_model_arguments, config_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", required=True, help="torch or flax")
    parser.add_argument("--out", default="runs/train", help="output directory (default runs/train)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_arguments(parser, iters=2000, eval_interval=500, eval_iters=200)


def run(args: argparse.Namespace) -> int:
    import sys

    from learngpt import files
    from learngpt.data import load_corpus
    from learngpt_lab import backends
    from learngpt_lab.runs import train_backend
    from learngpt_lab.threads import set_threads

    backends.get(args.backend)  # an unknown backend or device, or an unwritable --out, is refused before any work
    backends.check_device(args.device)
    out = files.output_dir(args.out)
    corpus = load_corpus(args.data)
    cfg = config_from(args, corpus.tokenizer.vocab_size)
    set_threads(args.threads)
    with files.RunLock(out):
        target = out / f"{args.backend}.safetensors"
        if target.exists():
            print(f"learngpt train: {target} exists; the new checkpoint will replace it when training succeeds",
                  file=sys.stderr)
        t0 = time.perf_counter()
        backend, model, history = train_backend(args.backend, cfg, corpus, device=args.device,
                                                progress=not args.no_progress)
        path = backend.save_checkpoint(target, model, cfg, corpus.tokenizer.chars, step=history.steps)
    for e in history.evals:
        print(f"step {e.step:>6}  train {e.train_loss:.4f}  val {e.val_loss:.4f}")
    print(f"{backend.name}: {history.steps_per_second:.1f} steps/s, compile {history.compile_seconds:.1f} s, "
          f"total {time.perf_counter() - t0:.1f} s; checkpoint {path}")
    return 0

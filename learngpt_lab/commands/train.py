"""`learngpt train --backend {torch,flax}`: train NanoGPT in one backend and save a checkpoint."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from learngpt_lab.runs import add_model_arguments, config_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", required=True, help="torch or flax")
    parser.add_argument("--out", default="runs/train", help="output directory (default runs/train)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_arguments(parser, iters=2000, eval_interval=500, eval_iters=200)


def run(args: argparse.Namespace) -> int:
    from learngpt.data import load_corpus
    from learngpt_lab import backends
    from learngpt_lab.runs import train_backend
    from learngpt_lab.threads import set_threads

    backends.get(args.backend)  # an unknown backend or device is refused before any work
    backends.check_device(args.device)
    corpus = load_corpus(args.data)
    cfg = config_from(args, corpus.tokenizer.vocab_size)
    set_threads(args.threads)
    t0 = time.perf_counter()
    backend, model, history = train_backend(args.backend, cfg, corpus, device=args.device,
                                            progress=not args.no_progress)
    path = backend.save_checkpoint(Path(args.out) / f"{backend.name}.safetensors", model, cfg,
                                   corpus.tokenizer.chars, step=history.steps)
    for e in history.evals:
        print(f"step {e.step:>6}  train {e.train_loss:.4f}  val {e.val_loss:.4f}")
    print(f"{backend.name}: {history.steps_per_second:.1f} steps/s, compile {history.compile_seconds:.1f} s, "
          f"total {time.perf_counter() - t0:.1f} s; checkpoint {path}")
    return 0

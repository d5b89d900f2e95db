"""`learngpt train --backend {torch,flax}`: train NanoGPT in one backend and save a checkpoint.

Also holds what `compare` shares with it: the model and run flags, the config built from them, the device.
"""
from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from learngpt.cli import UserError
from learngpt.config import Config
from learngpt.threads import limit_threads

BACKENDS = ("torch", "flax")
DEVICES = ("cpu", "gpu")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser, iters: int, eval_interval: int, eval_iters: int) -> None:
    """Sizes, schedule and data flags; defaults are the seed's config except the run length."""
    d = Config()
    g = parser.add_argument_group("model and run (defaults: the seed's config)")
    g.add_argument("--iters", type=positive_int, default=iters, help=f"training steps (default {iters})")
    g.add_argument("--eval-interval", type=positive_int, default=eval_interval,
                   help=f"steps between evaluations (default {eval_interval})")
    g.add_argument("--eval-iters", type=positive_int, default=eval_iters,
                   help=f"batches averaged per evaluation (default {eval_iters})")
    g.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    g.add_argument("--block-size", type=positive_int, default=d.block_size)
    g.add_argument("--embed-size", type=positive_int, default=d.embed_size)
    g.add_argument("--n-layers", type=positive_int, default=d.n_layers)
    g.add_argument("--n-heads", type=positive_int, default=d.n_heads)
    g.add_argument("--dropout", type=float, default=d.dropout)
    g.add_argument("--learning-rate", type=float, default=d.learning_rate)
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--device", default="cpu", help="cpu or gpu (torch: cuda; JAX: its gpu platform); default cpu")
    g.add_argument("--threads", type=positive_int, default=1,
                   help="CPU threads for each framework (torch.set_num_threads; XLA's intra-op pool); default 1: "
                        "at these sizes one thread is fastest, and more thrash on a busy machine")
    g.add_argument("--data", metavar="PATH", default=None,
                   help="tiny-shakespeare text (default: $LEARNGPT_DATA, the cache, else a download)")


def config_from(args: argparse.Namespace, vocab_size: int) -> Config:
    """The run's Config (ValueError, shown as one line, for inconsistent values such as 16 % 3 heads)."""
    return Config(batch_size=args.batch_size, block_size=args.block_size, max_iters=args.iters,
                  eval_iters=args.eval_iters, eval_interval=args.eval_interval, learning_rate=args.learning_rate,
                  embed_size=args.embed_size, n_layers=args.n_layers, n_heads=args.n_heads, dropout=args.dropout,
                  vocab_size=vocab_size, seed=args.seed)


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise UserError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    return name


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    return device


@contextlib.contextmanager
def on_device(backend_name: str, device: str):
    """Run the block with the backend's computations on device (cpu or gpu); a clear error if there is none."""
    if device == "cpu" and backend_name == "flax":
        import jax
        with jax.default_device(jax.devices("cpu")[0]):
            yield "cpu"
        return
    if device == "gpu" and backend_name == "torch":
        import torch
        if not torch.cuda.is_available():
            raise UserError("--device gpu: torch sees no CUDA device")
        yield "cuda"
        return
    if device == "gpu" and backend_name == "flax":
        import jax
        try:
            gpus = jax.devices("gpu")
        except RuntimeError:
            raise UserError("--device gpu: JAX sees no gpu device") from None
        with jax.default_device(gpus[0]):
            yield "gpu"
        return
    yield "cpu"


def train_backend(name: str, cfg: Config, corpus, init_weights=None, device: str = "cpu", progress: bool = True):
    """Build NanoGPT in backend `name` (init_weights: torch-layout arrays, else the backend's own init),
    train it on the shared batch stream; returns (backend, model, history)."""
    import numpy as np

    from learngpt.data import BatchSampler
    from parity import backends
    from parity.checkpoint import Architecture

    backend = backends.get(name)
    with on_device(name, device) as dev:
        model = backend.create(Architecture.nanogpt().recipe(cfg), example=np.zeros((1, cfg.block_size), np.int64),
                               seed=cfg.seed)
        if init_weights is not None:
            backend.load_weights(model, init_weights)
        if name == "torch":
            model.module.to(dev)
        sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
        history = backend.train(model, cfg, sampler, progress=progress)
        if name == "torch":
            model.module.to("cpu")  # saving and generating work on the host
    return backend, model, history


def sample_text(backend, model, vocab: str, n: int, prompt: str = "\n", seed: int = 0, greedy: bool = False) -> str:
    """prompt followed by n generated characters (sampled with the backend's own seeded rng, or greedy)."""
    from learngpt.data import CharTokenizer
    import numpy as np

    tok = CharTokenizer(vocab)
    idx = tok.encode(prompt)[None, :]  # (1, T0); ValueError names characters outside the vocabulary
    if idx.shape[1] == 0:
        raise ValueError("the prompt is empty; give at least one character")
    out = backend.decode(model, idx.astype(np.int64), n, greedy=greedy, seed=seed)
    return tok.decode(out[0])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", required=True, help="torch or flax")
    parser.add_argument("--out", default="runs/train", help="output directory (default runs/train)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_arguments(parser, iters=2000, eval_interval=500, eval_iters=200)


def run(args: argparse.Namespace) -> int:
    from learngpt.data import load_corpus

    name = check_backend(args.backend)
    check_device(args.device)
    corpus = load_corpus(args.data)
    cfg = config_from(args, corpus.tokenizer.vocab_size)
    limit_threads(args.threads)
    from parity.checkpoint import save_model
    t0 = time.perf_counter()
    backend, model, history = train_backend(name, cfg, corpus, device=args.device, progress=not args.no_progress)
    out = Path(args.out)
    path = save_model(out / f"{name}.safetensors", backend, model, cfg, corpus.tokenizer.chars, step=history.steps)
    for e in history.evals:
        print(f"step {e.step:>6}  train {e.train_loss:.4f}  val {e.val_loss:.4f}")
    print(f"{name}: {history.steps_per_second:.1f} steps/s, compile {history.compile_seconds:.1f} s, "
          f"total {time.perf_counter() - t0:.1f} s; checkpoint {path}")
    return 0

"""The runs behind the commands, usable from Python: train one backend, sample text, the flags they share."""
from __future__ import annotations

import argparse

import numpy as np

from learngpt import memory
from learngpt.components import NANOGPT, Architecture
from learngpt.config import MAX_SEED, PRESETS, Config, preset_action
from learngpt.data import BatchSampler, CharTokenizer, Corpus, check_block
from learngpt.errors import InputError, UserError
from learngpt_lab import backends


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, {MAX_SEED}], got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, {MAX_SEED}], got {value}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser, iters: int, eval_interval: int, eval_iters: int) -> None:
    """Sizes, schedule and data flags; defaults are the seed's config except the run length."""
    d = Config()
    g = parser.add_argument_group("model and run (defaults: the seed's config)")
    g.add_argument("--preset", choices=sorted(PRESETS), action=preset_action(), default=None,
                   help="named sizes and schedule (learngpt/config.py; laptop: nanoGPT's CPU recipe); the flags "
                        "given after it win (default: none, the flags' own defaults)")
    g.add_argument("--iters", type=positive_int, default=iters, help=f"training steps (default {iters})")
    g.add_argument("--eval-interval", type=positive_int, default=eval_interval,
                   help=f"steps between evaluations (default {eval_interval})")
    g.add_argument("--eval-iters", type=positive_int, default=eval_iters,
                   help=f"batches averaged per evaluation (default {eval_iters})")
    for flag, kind in (("batch-size", positive_int), ("block-size", positive_int), ("embed-size", positive_int),
                       ("n-layers", positive_int), ("n-heads", positive_int), ("dropout", float),
                       ("learning-rate", float)):
        value = getattr(d, flag.replace("-", "_"))
        g.add_argument(f"--{flag}", type=kind, default=value, help=f"(default {value})")
    g.add_argument("--torch-compile", action="store_true",
                   help="torch trains through torch.compile (learngpt_torch/fast.py: the same maths, its compile "
                        "time reported apart); default off: eager torch, the lesson's trainer")
    g.add_argument("--seed", type=seed_int, default=d.seed,
                   help=f"seeds the batches and the initialisation (default {d.seed})")
    g.add_argument("--device", default="cpu", help="cpu or gpu (torch: cuda; JAX: its gpu platform); default cpu")
    g.add_argument("--threads", type=positive_int, default=1,
                   help="CPU threads for each framework (torch.set_num_threads; XLA's intra-op pool); default 1: "
                        "at these sizes one thread is fastest, and more thrash on a busy machine")
    g.add_argument("--data", metavar="PATH", default=None,
                   help="tiny-shakespeare text (default: $LEARNGPT_DATA where it names a file, the cache, "
                        "shared/data/ beside the checkout, else a download)")


def add_parallel_arguments(parser: argparse.ArgumentParser, compare: bool = False) -> None:
    """--nproc, --devices and --shard-params: data parallel (learngpt_lab/parallel.py); 1 and 1 = one device."""
    g = parser.add_argument_group("data parallel (docs/parallel.md; default: one device)")
    g.add_argument("--nproc", type=positive_int, default=1,
                   help="processes, each with its slice of every global batch: torch DDP (gloo on CPU, NCCL on "
                        "GPU), JAX's multi-process runtime (jax.distributed) for flax; default 1")
    g.add_argument("--devices", type=positive_int, default=1,
                   help=("devices per JAX process, the batch sharded over them (CPU: XLA host devices); torch, "
                         "one process per device, gets --nproc x --devices processes; default 1") if compare else
                        "flax only: devices of one JAX process, the batch sharded over them (CPU: XLA host "
                        "devices); default 1")
    g.add_argument("--shard-params", action="store_true",
                   help="shard the parameters and the AdamW state over the same processes/devices too (torch "
                        "FSDP2 fully_shard; Flax NamedSharding of the params): the FSDP lesson (default: replicated)")


def parallel_requested(args: argparse.Namespace) -> bool:
    return args.nproc > 1 or args.devices > 1 or args.shard_params


def check_torch_compile(args: argparse.Namespace, names: tuple[str, ...], flag: str) -> None:
    """--torch-compile changes only a torch model trained from scratch in one process: with anything else it
    would be dropped silently, so it is refused in one line."""
    if not getattr(args, "torch_compile", False):
        return
    from learngpt.parallel import World
    if "torch" not in names:
        raise UserError(f"--torch-compile compiles torch's training; {flag} {','.join(names)} trains no torch "
                         f"model (leave it out)")
    if parallel_requested(args) or World.from_env():
        raise UserError("--torch-compile trains torch in one process; data parallel (--nproc, --devices, "
                         "--shard-params, torchrun) trains eager torch (leave one out)")
    if getattr(args, "resume", None):
        raise UserError("--torch-compile with --resume: a resumed run trains with the lesson's eager trainer "
                         "(leave it out)")


def config_from(args: argparse.Namespace, corpus: Corpus) -> Config:
    """The run's Config, checked before anything is allocated (one line each): consistent values (16 % 3
    heads), a block that fits in each split of the corpus, sizes that fit in this machine's memory."""
    cfg = Config(batch_size=args.batch_size, block_size=args.block_size, max_iters=args.iters,
                 eval_iters=args.eval_iters, eval_interval=args.eval_interval, learning_rate=args.learning_rate,
                 embed_size=args.embed_size, n_layers=args.n_layers, n_heads=args.n_heads, dropout=args.dropout,
                 vocab_size=corpus.tokenizer.vocab_size, seed=args.seed,
                 torch_compile=bool(getattr(args, "torch_compile", False)))
    check_block(corpus, cfg.block_size)
    memory.check(cfg)
    return cfg


def train_backend(name: str, cfg: Config, corpus: Corpus, init_weights: dict | None = None, device: str = "cpu",
                  progress: bool = True, architecture: Architecture = NANOGPT):
    """Build the architecture in backend `name` (init_weights: torch-layout arrays, else the backend's own init)
    and train it on the shared batch stream on `device`; returns (backend, model, history)."""
    backend = backends.get(name)
    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)  # a block too long: before the model
    with backend.on(device):
        model = backend.create(architecture.recipe(cfg), example=np.zeros((1, cfg.block_size), np.int64),
                               seed=cfg.seed)
        if init_weights is not None:
            backend.set_weights(model, init_weights)
        if cfg.torch_compile and name == "torch":  # learngpt_torch/fast.py: compiled before the clock starts
            history = backend.module("fast").train(model.module, cfg, sampler, progress=progress, desc="torch.compile")
        else:
            history = backend.train(model, cfg, sampler, progress=progress)
    return backend, model, history


def sample_text(backend, model, vocab: str, n: int, prompt: str = "\n", seed: int = 0, greedy: bool = False) -> str:
    """prompt followed by n generated characters (sampled with the backend's own seeded rng, or greedy)."""
    tok = CharTokenizer(vocab)
    idx = tok.encode(prompt)[None, :]  # (1, T0); InputError names characters outside the vocabulary
    if idx.shape[1] == 0:
        raise InputError("the prompt is empty; give at least one character")
    out = backend.complete(model, idx.astype(np.int64), n, greedy=greedy, seed=seed)
    return tok.decode(out[0])

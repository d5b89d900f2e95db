"""`learngpt train --backend {torch,flax,nnx} [--model NAME] [--resume FILE]`: train one of the curriculum's language
models in one backend and save a checkpoint; --resume continues one (learngpt_lab/resume.py says what it keeps)."""
from __future__ import annotations

import argparse
import contextlib
import sys
import time

from learngpt.errors import UserError
from learngpt.parallel import World
from learngpt_lab.runs import (add_model_arguments, add_parallel_arguments, check_torch_compile, config_from,
                               parallel_requested)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from learngpt.components import LANGUAGE_MODELS
    from learngpt_lab.resume import KEPT
    from learngpt_lab.backends import spelled
    parser.add_argument("--backend", required=True, help=f"{spelled()} (required)")
    parser.add_argument("--model", metavar="NAME", default=None,
                        help=f"the curriculum stage to train: {', '.join(LANGUAGE_MODELS)} (default NanoGPT; with "
                             f"--resume, the checkpoint's)")
    parser.add_argument("--resume", metavar="CHECKPOINT", default=None,
                        help=f"continue training this checkpoint for --iters more steps; it keeps {KEPT}; the "
                             f"model's sizes and seed come from it (default: a fresh model)")
    parser.add_argument("--out", default="runs/train", help="output directory (default runs/train)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown)")
    add_model_arguments(parser, iters=2000, eval_interval=500, eval_iters=200)
    add_parallel_arguments(parser)
    parser.set_defaults(model_defaults={a.dest: a.default for a in parser._actions if a.dest in _SIZES})


_SIZES = ("batch_size", "block_size", "embed_size", "n_layers", "n_heads", "dropout", "learning_rate", "seed")


def run(args: argparse.Namespace) -> int:
    """One device in this process, or data parallel (--nproc / --devices / --shard-params) over processes
    learngpt starts (learngpt_lab/parallel.py); the checkpoint is written (by this process, whole) only once
    the training finished."""
    from learngpt import components
    from learngpt_lab import files, resume
    from learngpt.data import find_corpus, load_corpus
    from learngpt_lab import backends, parallel
    from learngpt_lab.runs import train_backend
    from learngpt_lab.threads import set_threads

    backends.get(args.backend)  # an unknown backend or device, or an unwritable --out, is refused before any work
    backends.check_device(args.device)
    check_torch_compile(args, (args.backend,), "--backend")  # a flag that would do nothing is refused, never dropped
    arch = components.language_model(args.model or "NanoGPT")
    if (args.model not in (None, "NanoGPT") or args.resume) and (parallel_requested(args) or World.from_env()):
        raise UserError("--model and --resume train in one process; data parallel (--nproc, --devices, "
                        "--shard-params, torchrun) trains NanoGPT from scratch")
    saved = None
    if args.resume:
        from learngpt_lab.checkpoints import load
        saved = load(args.resume)
        resume.check_flags(saved, args.resume, arch if args.model else None,
                           {d: (getattr(args, d), v) for d, v in args.model_defaults.items()})
    out = files.output_dir(args.out)
    world = World.from_env()
    if world is not None:  # started by torchrun: this process is one rank of the run
        return run_rank(args, out, world)
    corpus_path = find_corpus(args.data)
    corpus = load_corpus(corpus_path)
    arch = arch if saved is None else saved.architecture
    cfg = config_from(args, corpus) if saved is None else resume.config(
        saved, corpus, args.resume, max_iters=args.iters, eval_interval=args.eval_interval, eval_iters=args.eval_iters)
    from learngpt_lab.checkpoints import MAX_STEP
    if saved is None and cfg.max_iters > MAX_STEP:  # (resumed: resume.config bounds step + --iters)
        raise UserError(f"--iters {cfg.max_iters}: a checkpoint records at most {MAX_STEP} steps")
    layout = parallel.Layout(args.backend, args.nproc, args.devices, args.device) if parallel_requested(args) \
        else None
    if layout is not None:
        layout.check(cfg.batch_size)  # before any process starts
    else:
        set_threads(args.threads)
    with files.RunLock(out):
        target = out / f"{args.backend}.safetensors"
        if target.is_dir():  # found before the training, not after it
            raise UserError(f"--out {out}: {target.name} is a folder; the checkpoint cannot replace it")
        files.claim(target, "train", "--out")  # a file of compare's set is compare's: kept
        if target.exists():
            print(f"learngpt train: {target} exists; the new checkpoint will replace it when training succeeds",
                  file=sys.stderr)
        t0 = time.perf_counter()
        done = 0 if saved is None else saved.step
        if saved is not None:
            print(f"learngpt train: resuming {args.resume} ({arch.describe(cfg)}) at step {done}; AdamW's moments "
                  f"start afresh (the checkpoint keeps none)", file=sys.stderr)
        if layout is None:
            if saved is None:
                backend, model, history = train_backend(args.backend, cfg, corpus, device=args.device,
                                                        progress=not args.no_progress, architecture=arch)
            else:
                backend = backends.get(args.backend)
                model, history = resume.train(backend, saved, cfg, corpus, args.device, not args.no_progress)
            got = {"weights": backend.get_weights(model), "history": history.to_dict(), "held": None}
        else:
            got = parallel.train(layout, cfg, str(corpus_path), shard_params=args.shard_params,
                                 progress=not args.no_progress, threads=args.threads)
        path = save(target, got["weights"], cfg, corpus.tokenizer.chars, args.backend,
                    done + got["history"]["steps"], arch)
    what = layout.describe(args.shard_params) if layout else f"{args.backend} {arch.describe(cfg)}"
    report(what, got["history"], got["held"], time.perf_counter() - t0, path, done)
    return 0


def save(target, weights: dict, cfg, vocab: str, backend: str, step: int, arch=None):
    from learngpt.components import NANOGPT
    from learngpt_lab.checkpoints import Checkpoint, save as save_checkpoint
    return save_checkpoint(target, Checkpoint(weights, cfg, arch or NANOGPT, vocab, backend, step))


def report(what: str, history: dict, held: dict | None, seconds: float, path, done: int = 0) -> None:
    """What a run prints: the evaluations (steps counted from the checkpoint's when resumed), then speed (and,
    data parallel, what each device held)."""
    for e in history["evals"]:
        print(f"step {done + e['step']:>6}  train {e['train_loss']:.4f}  val {e['val_loss']:.4f}")
    each = "" if held is None else (f"each device held {held['params']:,} of {held['total']:,} parameters and "
                                    f"{held['adamw']:,} AdamW moments; ")
    print(f"{what}: {history['steps_per_second']:.1f} steps/s, compile {history['compile_seconds']:.1f} s, "
          f"total {seconds:.1f} s; {each}checkpoint {path}")


def run_rank(args: argparse.Namespace, out, world: World) -> int:
    """One rank of a run torchrun started (`torchrun --nproc-per-node N -m learngpt_lab.cli train --backend
    torch ...`): the same work as a process of learngpt's own launcher; rank 0 saves, once every rank is done."""
    from learngpt_lab import files
    from learngpt.data import find_corpus, load_corpus
    from learngpt.parallel import check_split
    from learngpt_lab import parallel

    if args.backend != "torch":
        raise UserError("torchrun's variables (WORLD_SIZE, RANK) are set, and torchrun starts torch processes; "
                        "for flax use --nproc N (learngpt starts JAX's processes itself)")
    if args.nproc != 1 or args.devices != 1:
        raise UserError(f"--nproc/--devices under torchrun: torchrun started the {world.size} processes already "
                        f"(its --nproc-per-node)")
    corpus_path = find_corpus(args.data)
    corpus = load_corpus(corpus_path)
    cfg = config_from(args, corpus)
    check_split(cfg.batch_size, world.size, "WORLD_SIZE")
    layout = parallel.Layout("torch", world.size, 1, args.device)
    job = parallel.Job(cfg.to_dict(), shard_params=args.shard_params, progress=not args.no_progress)
    with files.RunLock(out) if world.rank == 0 else contextlib.nullcontext():  # rank 0 writes
        t0 = time.perf_counter()
        result = parallel.run_in_world(layout, world, [(parallel.train_task, (str(corpus_path), [job]))],
                                       args.threads)[0][0]
        if world.rank != 0:
            return 0
        path = save(out / "torch.safetensors", result["weights"], cfg, corpus.tokenizer.chars, "torch",
                    result["history"]["steps"])
    report(layout.describe(args.shard_params) + " (torchrun)", result["history"], result["held"],
           time.perf_counter() - t0, path)
    return 0

"""What changes if the attention scale is fixed: the curriculum scales scores by embed_size ** -0.5, the paper
("Attention Is All You Need", eq. 1) and nanoGPT by head_size ** -0.5.

    python experiments/attention_scale.py --out docs/results/attention-scale.json

NanoGPT at the curriculum's config (embed_size 16, 8 heads: head_size 2, so the paper's scale is sqrt(8) times
the curriculum's) trained in torch from the same weights and batches twice per seed: as written, and with every
MultiHeadVer2's queries multiplied by sqrt(n_heads), which turns q k^T / sqrt(embed_size) into
q k^T / sqrt(head_size) and changes nothing else. For each seed and each arm: the validation loss at every
evaluation. docs/answers.md renders the table (tools/docs.py).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, when run as a script

ARMS = ("embed_size ** -0.5 (the curriculum)", "head_size ** -0.5 (the paper, nanoGPT)")


def measure(seeds=(0, 1, 2), steps: int = 2000, eval_interval: int = 500, eval_iters: int = 50,
            data: str | None = None) -> dict:
    import torch

    import learngpt_torch
    from learngpt import components
    from learngpt.config import Config
    from learngpt.data import BatchSampler, load_corpus
    from learngpt.training import eval_data
    from learngpt_torch import trainer

    corpus = load_corpus(data)
    runs = []
    for seed in seeds:
        cfg = Config(seed=seed, eval_iters=eval_iters)
        for arm in ARMS:
            torch.manual_seed(seed)
            model = components.build(learngpt_torch, "NanoGPT", cfg)
            if arm == ARMS[1]:
                for module in model.modules():
                    if isinstance(module, learngpt_torch.MultiHeadVer2):
                        factor = math.sqrt(module.n_heads)  # sqrt(C / head_size)
                        module.query.register_forward_hook(lambda _m, _i, out, f=factor: out * f)
            sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed)
            history = trainer.train(model, cfg, sampler, eval_data(sampler, cfg), max_iters=steps,
                                    eval_interval=eval_interval)
            runs.append({"seed": seed, "arm": arm, "steps": [e.step for e in history.evals],
                         "val_loss": [e.val_loss for e in history.evals],
                         "train_loss": [e.train_loss for e in history.evals]})
            print(f"seed {seed}, {arm}: val {runs[-1]['val_loss'][-1]:.4f}", file=sys.stderr)
    return {"what": "NanoGPT, the curriculum's config, torch, the same weights and batches per seed: attention "
                    "scores scaled by embed_size ** -0.5 against head_size ** -0.5 (experiments/attention_scale.py)",
            "arms": list(ARMS), "seeds": list(seeds), "steps": steps, "eval_iters": eval_iters,
            "n_heads": Config().n_heads, "embed_size": Config().embed_size,
            "torch_threads": torch.get_num_threads(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "runs": runs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python experiments/attention_scale.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the JSON file to write (docs/results/attention-scale.json)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--data", default=None, help="tiny-shakespeare (default: as `learngpt train`)")
    args = p.parse_args(argv)
    from learngpt_lab.threads import set_threads
    set_threads(1, xla=False)
    from learngpt_lab import files
    files.write_text(Path(args.out), json.dumps(measure(steps=args.steps, data=args.data), indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

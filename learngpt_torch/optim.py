"""AdamW, the curriculum's optimiser: torch's own, with every hyper-parameter stated (optax's defaults
differ)."""
import torch

from learngpt.config import Config


def make_optimizer(model: torch.nn.Module, cfg: Config) -> torch.optim.AdamW:
    """torch.optim.AdamW: decoupled weight decay, bias corrections computed in Python floats (float64).
    foreach=True (torch's default on GPU only): each operation applied to all the parameters in one
    call, the per-parameter loop's arithmetic bit for bit (tests/unit/test_optim.py), less Python."""
    return torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, betas=cfg.betas, eps=cfg.eps,
                             weight_decay=cfg.weight_decay, foreach=True)

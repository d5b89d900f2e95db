"""AdamW, the curriculum's optimiser: torch's own, with every hyper-parameter stated (optax's defaults
differ)."""
import torch

from learngpt.config import Config


def make_optimizer(model: torch.nn.Module, cfg: Config) -> torch.optim.AdamW:
    """torch.optim.AdamW: decoupled weight decay, bias corrections computed in Python floats (float64)."""
    return torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, betas=cfg.betas, eps=cfg.eps,
                             weight_decay=cfg.weight_decay)

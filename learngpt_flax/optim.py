"""AdamW in linen: torch.optim.AdamW's arithmetic as an optax transformation (learngpt_jax/optim.py says why
not optax.adamw), its state a pytree beside the params. Nothing holds either: optimizer.init(params) makes the
state, optimizer.update(grads, state, params) returns the updates and the next state, optax.apply_updates
adds the updates to the params, and the trainer carries all of it from one step to the next."""
import optax

from learngpt.config import Config
from learngpt_jax.optim import adamw


def make_optimizer(cfg: Config) -> optax.GradientTransformation:
    """The config's AdamW: learning rate, betas, eps and weight decay stated, as on the torch side."""
    return adamw(cfg.learning_rate, cfg.betas[0], cfg.betas[1], cfg.eps, cfg.weight_decay)

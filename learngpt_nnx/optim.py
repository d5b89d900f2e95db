"""AdamW in NNX: torch.optim.AdamW's arithmetic as an optax transformation (learngpt_jax/optim.py says why
not optax.adamw), held by an nnx.Optimizer beside the model. nnx.Optimizer(model, tx, wrt=nnx.Param) makes
the state for the model's parameters and keeps it; optimizer.update(model, grads) applies a step to the model
in place, as torch's opt.step() does."""
from flax import nnx

from learngpt.config import Config
from learngpt_jax.optim import adamw


def make_optimizer(model: nnx.Module, cfg: Config) -> nnx.Optimizer:
    """The config's AdamW over the model's nnx.Param variables: learning rate, betas, eps and weight decay
    stated, as on the torch side."""
    tx = adamw(cfg.learning_rate, cfg.betas[0], cfg.betas[1], cfg.eps, cfg.weight_decay)
    return nnx.Optimizer(model, tx, wrt=nnx.Param)

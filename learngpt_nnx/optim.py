"""AdamW, the curriculum's optimiser: torch.optim.AdamW's arithmetic as an optax transformation, held by an
nnx.Optimizer.

The transformation is learngpt_flax/optim.py's, imported, not copied: optax is the same library under both
Flax APIs, and one definition of torch's order of operations is one thing to keep right (its docstring says
why optax.adamw's float32 bias corrections are not it). What NNX adds is the object: nnx.Optimizer(model, tx,
wrt=nnx.Param) holds the AdamW state beside the model, and optimizer.update(model, grads) applies a step to
the model in place, as torch's opt.step() does.
"""
from flax import nnx

from learngpt.config import Config
from learngpt_flax.optim import adamw, make_optimizer as make_transformation

__all__ = ["adamw", "make_transformation", "make_optimizer"]


def make_optimizer(model: nnx.Module, cfg: Config) -> nnx.Optimizer:
    """The config's AdamW over the model's nnx.Param variables: learning rate, betas, eps and weight decay
    stated, as on the torch side."""
    return nnx.Optimizer(model, make_transformation(cfg), wrt=nnx.Param)

"""A tiny torch/Flax pair for `learngpt parity --torch ... --flax ...` (tests/unit/test_cli_port.py): an MLP
with exact GELU, its Flax port, a port with a planted bug (the tanh approximation), and rules."""
import flax.linen as nn
import torch

from parity.rules import DEFAULT_RULES, rename


class TorchMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.Linear(16, 64)
        self.down = torch.nn.Linear(64, 16)

    def forward(self, x):
        return self.down(torch.nn.functional.gelu(self.up(x)))  # (B, 16) -> (B, 64) -> (B, 16)


class FlaxMLP(nn.Module):
    approximate: bool = False

    @nn.compact
    def __call__(self, x):
        h = nn.gelu(nn.Dense(64, name="up")(x), approximate=self.approximate)  # (B, 16) -> (B, 64)
        return nn.Dense(16, name="down")(h)  # (B, 64) -> (B, 16)


def torch_mlp():
    return TorchMLP()


def flax_mlp():
    return FlaxMLP()


def flax_mlp_tanh_gelu():
    return FlaxMLP(approximate=True)


def flax_mlp_renamed(dtype="float32"):
    """The same port with other layer names, for a rules file (and a factory that takes dtype)."""
    assert dtype in ("float32", "float64")
    return FlaxRenamed()


class FlaxRenamed(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(16, name="proj_out")(nn.gelu(nn.Dense(64, name="proj_in")(x), approximate=False))


RENAMED = DEFAULT_RULES.extend(rename("proj_in", "up"), rename("proj_out", "down"))
NOT_RULES = {"up": "proj_in"}


# For the command line's one-line mistakes (tests/unit/test_cli_port.py).

class FlaxMLPDropout(nn.Module):
    """The port with dropout that is on unless told otherwise: it asks for a 'dropout' rng."""

    @nn.compact
    def __call__(self, x, deterministic: bool = False):
        h = nn.gelu(nn.Dense(64, name="up")(x), approximate=False)  # (B, 16) -> (B, 64)
        return nn.Dense(16, name="down")(nn.Dropout(0.1)(h, deterministic=deterministic))  # (B, 64) -> (B, 16)


def flax_mlp_dropout():
    return FlaxMLPDropout()


class TorchEmbed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Embedding(10, 16)

    def forward(self, ids):
        return self.wte(ids)  # (B, T) -> (B, T, 16)


class FlaxEmbed(nn.Module):
    @nn.compact
    def __call__(self, ids):
        return nn.Embed(10, 16, name="wte")(ids)  # (B, T) -> (B, T, 16)


def torch_embed():
    return TorchEmbed()


def flax_embed():
    return FlaxEmbed()


def torch_sized(width):
    """A factory that needs an argument the command line cannot give."""
    return TorchMLP()


def torch_broken():
    raise RuntimeError("the checkpoint it wanted is not here")


def mlp_pair(dtype="float32"):
    """(torch module, Flax module, inputs, flax_kwargs): the form --pair takes."""
    import numpy as np
    x = np.random.default_rng(0).standard_normal((4, 16)).astype(dtype)
    return TorchMLP(), FlaxMLPDropout(), x, {"deterministic": True}


def mlp_pair_with_loss():
    """The dict form: inputs, Flax keywords, a loss and its targets."""
    import numpy as np
    rng = np.random.default_rng(0)
    return {"torch": TorchMLP(), "flax": FlaxMLP(), "inputs": rng.standard_normal((4, 16)).astype("float32"),
            "loss": "cross_entropy", "targets": rng.integers(0, 16, (4,))}


def pair_of_two():
    return TorchMLP(), FlaxMLP()


def pair_unknown_key():
    return {"torch": TorchMLP(), "flax": FlaxMLP(), "inputs": None, "flax_kwarg": {}}

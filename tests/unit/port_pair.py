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

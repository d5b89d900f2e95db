"""A porter's file: the Flax guide's CNN ("Convert PyTorch models to Flax") with BatchNorm, torch and its linen
port, as docs/port.md's first hour runs it with `learngpt parity --pair docs/examples/cnn_port.py:FACTORY`.

The port takes channels-last images, as Flax's Conv does; torch takes channels first. Each factory returns
compare's keywords: the models, the inputs in torch's layout, and whatever the step of the hour adds.
"""
import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import torch


class TorchCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))  # (B, 3, 8, 8) -> (B, 8, 8, 8)
        x = torch.relu(self.bn2(self.conv2(x)))  # -> (B, 8, 4, 4)
        return self.fc(x.flatten(1))  # (B, 128) -> (B, 10)


class FlaxCNN(nn.Module):
    momentum: float = 0.9
    padding: object = 1

    @nn.compact
    def __call__(self, x, train: bool = False):  # x: (B, 8, 8, 3)
        x = nn.Conv(8, (3, 3), padding=1, name="conv1")(x)
        x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=self.momentum, name="bn1")(x))
        x = nn.Conv(8, (3, 3), (2, 2), padding=self.padding, name="conv2")(x)
        x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=self.momentum, name="bn2")(x))
        x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)  # flatten as torch does: (C, H, W)
        return nn.Dense(10, name="fc")(x)


def _torch():
    torch.manual_seed(0)
    model = TorchCNN()
    with torch.no_grad():  # statistics a trained model holds
        for bn in (model.bn1, model.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return model


IMAGES = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)  # (B, C, H, W)


def first(dtype="float32"):
    """The first try: the same images to both."""
    return {"torch": _torch(), "flax": FlaxCNN(), "inputs": IMAGES.astype(dtype)}


def declared(dtype="float32"):
    """The layouts declared once: torch's images are NCHW, the port's NHWC."""
    return {**first(dtype), "layout": ("NCHW", "NHWC")}


def same_padding(dtype="float32"):
    """conv2 with Flax's padding='SAME', as many ports write it (google/flax#2993)."""
    return {**declared(dtype), "flax": FlaxCNN(padding="SAME")}


def train_copied_momentum(dtype="float32"):
    """Train mode, with torch's momentum=0.1 copied into Flax's BatchNorm."""
    return {**declared(dtype), "flax": FlaxCNN(momentum=0.1), "train": True, "flax_kwargs": {"train": True}}


def train(dtype="float32"):
    """Train mode, momentum in Flax's convention (0.9 = 1 - torch's 0.1)."""
    return {**declared(dtype), "train": True, "flax_kwargs": {"train": True}}

"""The curriculum's hyper-parameters: the seed's config as defaults, frozen, validated."""
import dataclasses

import pytest

from learngpt.config import Config


def test_defaults_are_the_seed_config():
    cfg = Config()
    assert (cfg.batch_size, cfg.block_size, cfg.max_iters, cfg.eval_iters, cfg.eval_interval) == (32, 8, 5000, 200, 500)
    assert (cfg.learning_rate, cfg.embed_size, cfg.n_layers, cfg.n_heads, cfg.dropout) == (1e-3, 16, 5, 8, 0.05)
    assert cfg.head_size == 2


def test_optimiser_values_are_stated_not_defaulted():
    """AdamW's betas, eps and weight_decay are torch's defaults, stated in the Config for both backends to take:
    optax's adamw defaults weight_decay to another value."""
    import inspect

    import optax
    import torch
    cfg = Config()
    torch_defaults = inspect.signature(torch.optim.AdamW).parameters
    assert (cfg.betas, cfg.eps, cfg.weight_decay) == tuple(torch_defaults[k].default
                                                           for k in ("betas", "eps", "weight_decay"))
    assert inspect.signature(optax.adamw).parameters["weight_decay"].default != cfg.weight_decay


def test_frozen_and_round_trips_through_a_dict():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.embed_size = 32
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(n_layers=2).n_layers == 2


@pytest.mark.parametrize("changes,message", [
    ({"embed_size": 10, "n_heads": 4}, "embed_size 10 is not divisible by n_heads 4"),
    ({"dropout": 1.0}, r"dropout rate 1.0 is outside \[0, 1\)"),
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"learning_rate": -1.0}, "learning_rate must be a positive finite number, got -1.0"),
    ({"learning_rate": float("nan")}, "learning_rate must be a positive finite number, got nan"),
    ({"learning_rate": float("inf")}, "learning_rate must be a positive finite number, got inf"),
    ({"dropout": float("nan")}, r"dropout rate nan is outside \[0, 1\)"),
    ({"seed": -1}, r"seed must be an integer in \[0, 2147483647\], got -1"),
    ({"seed": 99999999999999999999}, r"seed must be an integer in \[0, 2147483647\]"),
    ({"betas": (0.9, 1.0)}, r"betas must be two numbers in \[0, 1\)"),
    ({"eps": 0.0}, "eps must be a positive finite number"),
    ({"weight_decay": float("nan")}, "weight_decay must be a finite number >= 0"),
])
def test_bad_values_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        Config(**changes)


def test_unknown_fields_are_named():
    with pytest.raises(ValueError, match=r"unknown config fields \['n_embd'\]"):
        Config.from_dict({"n_embd": 3})

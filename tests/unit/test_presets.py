"""--preset and --torch-compile, the flags train and compare share (learngpt_lab/runs.py): the laptop preset is
nanoGPT's CPU recipe, flags after it win, and --torch-compile reaches torch's trainer through the Config."""
import argparse

import pytest

from learngpt.config import PRESETS, Config
from learngpt.errors import ConfigError
from learngpt_lab import runs


def parse(*flags):
    parser = argparse.ArgumentParser()
    runs.add_model_arguments(parser, iters=100, eval_interval=10, eval_iters=5)
    return parser.parse_args(list(flags))


def test_the_laptop_preset_is_nanogpts_cpu_recipe():
    args = parse("--preset", "laptop")
    assert (args.n_layers, args.n_heads, args.embed_size, args.block_size, args.batch_size, args.iters,
            args.dropout, args.eval_iters) == (4, 4, 128, 64, 12, 2000, 0.0, 20)
    assert not args.torch_compile


def test_flags_after_the_preset_win_and_before_it_lose():
    assert parse("--preset", "laptop", "--iters", "50").iters == 50
    assert parse("--iters", "50", "--preset", "laptop").iters == 2000
    with pytest.raises(SystemExit):
        parse("--preset", "desktop")


def test_every_preset_makes_a_valid_config_and_every_flag_states_its_default(capsys):
    keys = {"iters": "max_iters"}
    for name, values in PRESETS.items():
        Config(**{keys.get(k, k): v for k, v in values.items()})
    from learngpt_lab.commands import bench, compare
    models = argparse.ArgumentParser()
    runs.add_model_arguments(models, iters=100, eval_interval=10, eval_iters=5)
    parsers = [models]
    for command in (bench, compare):
        parsers.append(argparse.ArgumentParser())
        command.add_arguments(parsers[-1])
    for parser in parsers:
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert "default" in (action.help or ""), action.option_strings


def test_torch_compile_reaches_the_torch_trainer(monkeypatch, corpus):
    """config_from carries --torch-compile into the Config; train_backend then trains torch through
    learngpt_torch.fast.train (here recorded, not run) and Flax as always."""
    from learngpt_torch import fast
    cfg = runs.config_from(parse("--torch-compile", "--n-layers", "1", "--iters", "2", "--eval-iters", "1"), corpus)
    assert cfg.torch_compile is True
    called = []

    def recorded(model, cfg, sampler, *args, **kwargs):
        called.append(kwargs.get("desc"))
        from learngpt_torch import trainer
        return trainer.train(model, cfg, sampler, *args, **{k: v for k, v in kwargs.items() if k != "desc"})
    monkeypatch.setattr(fast, "train", recorded)
    runs.train_backend("torch", cfg, corpus, progress=False)
    assert called == ["torch.compile"]
    runs.train_backend("torch", cfg.replace(torch_compile=False), corpus, progress=False)
    assert called == ["torch.compile"]
    with pytest.raises(ConfigError, match="torch_compile"):
        cfg.replace(torch_compile="yes")

"""The lesson trainers of both Flax APIs (learngpt_flax/trainer.py, learngpt_nnx/trainer.py) compile a model's
programs once for the process: another train() of the same architecture and optimizer compiles nothing
(XLA's compilations counted through jax.monitoring), and gives the same floats bit for bit as a first, compiling
run of the same seed. Another architecture or another learning rate compiles its own programs."""
import jax
import numpy as np
import pytest
from flax import nnx

from learngpt.components import Architecture
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import eval_data
from learngpt_lab import backends

pytestmark = pytest.mark.training

CFG = Config(max_iters=6, eval_interval=3, eval_iters=2)
BIGRAM, OTHER = Architecture("GPTVer1", None), Architecture("GPTVer2", "HeadVer1")  # quick to compile
EXAMPLE = np.zeros((1, CFG.block_size), np.int64)
COMPILES: list[float] = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **kw: COMPILES.append(seconds) if event == "/jax/core/compile/backend_compile_duration"
    else None)


def lesson_run(corpus, name: str, cfg: Config, seed: int = 0, arch: Architecture = BIGRAM) -> tuple[int, np.ndarray]:
    """(XLA compilations during the run, its step losses and parameters as one array)."""
    from learngpt_flax import trainer as linen_trainer
    from learngpt_nnx import trainer as nnx_trainer
    model = backends.get(name).create(arch.recipe(cfg), example=EXAMPLE, seed=seed)
    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
    evals = eval_data(BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed), cfg)
    before = len(COMPILES)
    if name == "flax":
        params, history = linen_trainer.train(model.module, model.params, cfg, sampler, evals)
    else:
        history = nnx_trainer.train(model.module, cfg, sampler, evals)
        params = nnx.state(model.module, nnx.Param)
    leaves = [np.ravel(history.step_losses)] + [np.ravel(a) for a in jax.tree_util.tree_leaves(params)]
    return len(COMPILES) - before, np.concatenate(leaves)


@pytest.mark.parametrize("name", ["flax", "nnx"])
def test_another_train_of_the_same_model_compiles_nothing_and_repeats_the_floats(corpus, name):
    cfg = CFG.replace(learning_rate=7e-4)  # a config no other test trains in this process
    first, a = lesson_run(corpus, name, cfg)
    other_seed, _ = lesson_run(corpus, name, cfg, seed=1)
    again, b = lesson_run(corpus, name, cfg)
    assert first > 0, "the first run compiled nothing: the count does not see compilations"
    assert (other_seed, again) == (0, 0), f"a second train() compiled {other_seed} and {again} programs"
    np.testing.assert_array_equal(a, b)  # the kept program is the one the first run compiled


@pytest.mark.parametrize("name", ["flax", "nnx"])
def test_another_architecture_or_learning_rate_compiles_its_own(corpus, name):
    cfg = CFG.replace(learning_rate=6e-4)
    lesson_run(corpus, name, cfg)
    assert lesson_run(corpus, name, cfg.replace(learning_rate=5e-4))[0] > 0, "the learning rate is not in the key"
    assert lesson_run(corpus, name, cfg, arch=OTHER)[0] > 0, "the architecture is not in the key"

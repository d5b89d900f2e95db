"""learngpt_torch/fast.py: the lesson's trainer with the model through torch.compile is the same training
(float64, dropout off: step losses and weights to 1e-9 after 20 steps), compiled once before the clock starts
(the run itself compiles nothing more); the warm-up leaves the model and torch's random stream untouched."""
import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

import learngpt_torch
from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import eval_data
from learngpt_torch import fast, trainer

TINY = Config(batch_size=4, block_size=8, embed_size=16, n_layers=2, n_heads=4, eval_iters=1, dropout=0.0)
BOUND = 1e-9  # float64: the compiled program sums in another order, roundoff only


def run(corpus, train):
    torch.manual_seed(0)
    model = NANOGPT.build(learngpt_torch, TINY).double()
    sampler = BatchSampler(corpus, TINY.batch_size, TINY.block_size, TINY.seed)
    history = train(model, TINY, sampler, eval_data(sampler, TINY), max_iters=20, eval_interval=10)
    return history, {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


@pytest.mark.slow  # torch.compile of a forward and a backward: about a minute on 2 cores
@pytest.mark.training
def test_compiled_training_is_the_lessons_in_float64(corpus):
    eager, eager_weights = run(corpus, trainer.train)
    torch._dynamo.reset()
    graphs = counters["stats"]["unique_graphs"]
    compiled, compiled_weights = run(corpus, fast.train)
    assert counters["stats"]["unique_graphs"] == graphs + 1  # compiled in the warm-up, never again in the run
    assert compiled.compile_seconds > 0 and compiled.steps == eager.steps == 20
    assert np.abs(np.subtract(compiled.step_losses, eager.step_losses)).max() <= BOUND
    worst = max(float(np.abs(compiled_weights[k] - eager_weights[k]).max()) for k in eager_weights)
    assert worst <= BOUND, worst


def test_the_warm_up_changes_neither_the_model_nor_the_random_stream(monkeypatch):
    monkeypatch.setattr(fast, "make_step", trainer.make_step)  # the warm-up's bookkeeping, without compiling
    torch.manual_seed(0)
    model = NANOGPT.build(learngpt_torch, TINY.replace(dropout=0.5))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    assert fast.warm_up(model, TINY) > 0
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())

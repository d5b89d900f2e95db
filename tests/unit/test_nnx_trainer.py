"""The NNX trainers (learngpt_nnx/trainer.py, the lesson: one nnx.jit program of lax.scan per chunk, the objects
passed in; learngpt_nnx/fast.py: the State split out once, jax.jit programs, one per chunk or one step per call)
train the model torch trains: from torch's weights, dropout off, float64, every step's loss and every parameter
after the last step within 1e-9 of torch's, and each within 1e-12 of the other; fast.py's two loops agree bit
for bit. (The 200-step trajectory, float32 seeds included: tests/parity/test_trajectory.py.)"""
import numpy as np
import pytest

from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import eval_data
from learngpt_lab import backends

# one xdist worker for the module: its module-scoped fixture (the trained runs) is then made once, not once per worker
pytestmark = [pytest.mark.training, pytest.mark.xdist_group("nnx-trainer")]

CFG = Config(n_layers=2, dropout=0.0, max_iters=12, eval_interval=6, eval_iters=2)
EXAMPLE = np.zeros((1, CFG.block_size), np.int64)


@pytest.fixture(scope="module")
def start():
    torch = backends.get("torch", "float64")
    return torch.get_weights(torch.create(NANOGPT.recipe(CFG), seed=3))


def trained(corpus, start, name, train=None, cfg=CFG, **kw):
    """(step losses, evaluations, weights) of one run from start on the shared batches."""
    b = backends.get(name, "float64")
    model = b.create(NANOGPT.recipe(cfg), example=EXAMPLE, weights=start)
    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
    evals = eval_data(BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed), cfg)
    if train is None:
        history = b.train(model, cfg, sampler, evals)
    else:
        import jax
        with jax.enable_x64(True):
            history = train(model.module, cfg, sampler, evals, **kw)
    return np.asarray(history.step_losses), history.evals, b.get_weights(model), history


def gap(a, b) -> tuple[float, float, float]:
    steps = float(np.abs(a[0] - b[0]).max())
    evals = max(abs(getattr(x, s) - getattr(y, s)) for x, y in zip(a[1], b[1]) for s in ("train_loss", "val_loss"))
    params = max(float(np.abs(a[2][k] - b[2][k]).max()) for k in a[2])
    return steps, evals, params


@pytest.fixture(scope="module")
def runs(corpus, start):
    from learngpt_nnx import fast, trainer
    return {"torch": trained(corpus, start, "torch"), "lesson": trained(corpus, start, "nnx", trainer.train),
            "fast": trained(corpus, start, "nnx", fast.train),
            "fast per step": trained(corpus, start, "nnx", fast.train, fused=False)}


@pytest.mark.parametrize("form", ["lesson", "fast", "fast per step"])
def test_each_nnx_trainer_follows_torch_in_float64(runs, form):
    steps, evals, params = gap(runs["torch"], runs[form])
    print(f"torch vs nnx {form}: step loss {steps:.1e}, evaluation {evals:.1e}, params {params:.1e}")
    assert len(runs[form][0]) == CFG.max_iters and [e.step for e in runs[form][1]] == [0, 6, 12]
    assert max(steps, evals, params) <= 1e-9, (form, steps, evals, params)


def test_the_lesson_and_the_fast_form_are_the_same_maths(runs):
    assert max(gap(runs["lesson"], runs["fast"])) <= 1e-12


def test_the_fast_forms_scan_and_per_step_loops_agree_bit_for_bit(runs):
    fused, single = runs["fast"], runs["fast per step"]
    np.testing.assert_array_equal(fused[0], single[0])  # same key, same step, same batches: the same floats
    assert max(gap(fused, single)) == 0


def test_compiling_is_counted_apart_and_the_fast_form_compiles_once_per_architecture(corpus):
    from learngpt_jax.fast import PROGRAMS
    from learngpt_nnx import fast
    cfg = CFG.replace(n_layers=1)  # an architecture no other test here trains
    torch = backends.get("torch", "float64")
    start = torch.get_weights(torch.create(NANOGPT.recipe(cfg), seed=3))
    first = trained(corpus, start, "nnx", fast.train, cfg.replace(seed=11))[3]
    kept = len(PROGRAMS)
    second = trained(corpus, start, "nnx", fast.train, cfg.replace(seed=12))[3]
    assert first.compile_seconds > 0 and first.train_seconds > 0
    assert len(PROGRAMS) == kept, "another seed of the same architecture compiled again"
    assert second.compile_seconds < first.compile_seconds


def test_dropout_draws_from_the_seed(corpus, start):
    """With dropout on, a seed repeats its run and another seed draws other masks."""
    cfg = CFG.replace(dropout=0.2, max_iters=4, eval_interval=4)
    a, again, other = (trained(corpus, start, "nnx", cfg=cfg.replace(seed=s))[0] for s in (5, 5, 6))
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, other)
    off = trained(corpus, start, "nnx", cfg=CFG.replace(max_iters=4, eval_interval=4, seed=5))[0]
    assert not np.array_equal(a, off), "dropout 0.2 trained as if it were off"


def test_a_model_that_ran_forward_first_trains_and_is_left_in_eval_mode(corpus, start):
    b = backends.get("nnx")
    model = b.create(NANOGPT.recipe(CFG.replace(dropout=0.1)), example=EXAMPLE, weights=start)
    b.intermediates(model, np.zeros((2, CFG.block_size), np.int64))  # leaves attentions on the model
    b.train(model, CFG.replace(max_iters=2, eval_interval=2), BatchSampler(corpus, 32, 8, 0))
    from flax import nnx
    dropouts = [m for _, m in nnx.iter_modules(model.module) if hasattr(m, "deterministic")]
    assert len(dropouts) == 4 and all(m.deterministic for m in dropouts), "left in train mode"


def test_fast_layers_wraps_while_tracing_and_puts_the_classes_back():
    from flax import nnx

    from learngpt_nnx import fast
    before = {cls: cls.__dict__["__call__"] for cls in fast.WRAPPERS}
    with fast.fast_layers():
        assert all(cls.__dict__["__call__"] is not call for cls, call in before.items())
    assert all(cls.__dict__["__call__"] is call for cls, call in before.items())
    layer = nnx.Linear(3, 2, dtype=np.float16, rngs=nnx.Rngs(0))  # not plain: its own __call__ runs
    x = np.ones((1, 3), np.float32)
    with fast.fast_layers():
        assert layer(x).dtype == np.float16


def test_no_weight_gradient_dot_of_the_fast_step_contracts_its_first_dimension_on_cpu():
    """fast_layers: as in linen's fast step (tests/unit/test_bench_flax_trainer.py), no dot of the compiled
    NNX fast step contracts the left operand's first dimension; the lesson's step has such dots."""
    import re

    import jax
    from flax import nnx

    from learngpt_jax.fast import compile_program
    from learngpt_nnx import fast, trainer
    from learngpt_nnx.optim import make_optimizer

    def contracting_first(make_step) -> int:
        model = backends.get("nnx").create(NANOGPT.recipe(CFG), example=EXAMPLE).module
        optimizer = make_optimizer(model, CFG)
        step = make_step(model, optimizer)  # (State, (x, y)) -> (State, loss): the update keeps the backward
        x = np.zeros((CFG.batch_size, CFG.block_size), np.int32)
        lowered = jax.jit(step).lower(nnx.state((model, optimizer)), (x, x))
        return len(re.findall(r" dot\([^\n]*lhs_contracting_dims=\{0\}", compile_program(lowered, "cpu").as_text()))
    assert contracting_first(fast.make_step) == 0
    assert contracting_first(trainer.make_step) > 0

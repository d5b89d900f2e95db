"""What learngpt_flax/fast.py (with learngpt_jax/fast.py's pieces) changes for speed (docs/bench.md, "The Flax
loop") keeps it correct: dropout from its key is still Bernoulli(1 - rate), rescaled, different per step and per
layer; the scan-fused and the per-step loops give the same losses bit for bit, in the lesson's trainer and in
fast.train; the fast step's gradients are the lesson's; and the compiled step is what we meant it to be (no
YNNPACK library calls, no rolled RNG loops on CPU, no weight gradient in the slow dot layout). Speed itself is
never asserted here."""
import contextlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn

import learngpt_flax
from learngpt import components
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import eval_data
from learngpt_flax import fast, trainer
from learngpt_jax import fast as jax_fast

RATE = 0.3
N = 4096


class TwoDropouts(nn.Module):
    """loss = sum(drop1(w)) + 2 * sum(drop2(w)) / N: the gradient of w shows both masks."""

    @nn.compact
    def __call__(self, x, y, deterministic=True):
        w = self.param("w", nn.initializers.ones, (N,))
        a = nn.Dropout(RATE)(w, deterministic)
        b = nn.Dropout(RATE)(w, deterministic)
        return None, (a.sum() + 1000.0 * b.sum()) / N


def test_the_fast_dropout_is_bernoulli_rescaled_and_fresh_each_step_and_layer():
    model = TwoDropouts()
    params = model.init({"params": jax.random.key(0)}, None, None)["params"]
    step = jax.jit(fast.make_step(model, optax.sgd(1.0)))  # new w = w - grad: the grad is readable
    state = (params, optax.sgd(1.0).init(params), fast.dropout_key(0))
    masks = []
    for _ in range(3):
        before = state[0]["w"]
        state, _ = step(state, (None, None))
        grad = np.asarray(before - state[0]["w"]) * N  # = mask1 / keep + 1000 * mask2 / keep
        mask2 = np.round(grad / 1000 * (1 - RATE)) > 0
        mask1 = np.isclose(grad - 1000 * mask2 / (1 - RATE), 1 / (1 - RATE), rtol=1e-3)
        rest = grad - 1000 * mask2 / (1 - RATE) - mask1 / (1 - RATE)
        assert np.abs(rest).max() < 1e-2, "survivors are scaled by 1 / (1 - rate), the dropped are exactly 0"
        for mask in (mask1, mask2):
            sigma = np.sqrt(RATE * (1 - RATE) / N)
            assert abs((~mask).mean() - RATE) < 4 * sigma, (~mask).mean()
        masks.append((mask1, mask2))
    assert not np.array_equal(masks[0][0], masks[0][1]), "two layers drew the same mask"
    assert not np.array_equal(masks[0][0], masks[1][0]), "two steps drew the same mask"
    assert jax.random.key_impl(fast.dropout_key(0)) == jax_fast.DROPOUT_RNG


TINY = Config(batch_size=4, block_size=8, embed_size=16, n_layers=2, n_heads=4, eval_iters=1)


def run(corpus, train, fused: bool, steps: int = 6, chunk: int = 3) -> list[float]:
    """The step losses of one run: fast.train, scan-fused or one jitted step per call; the lesson's
    trainer.train (a lax.scan per chunk), or, not fused, the lesson's step jitted and called once per batch
    on the batches trainer.train draws."""
    model = components.build(learngpt_flax, "NanoGPT", TINY)
    params = model.init(jax.random.key(TINY.seed), np.zeros((1, TINY.block_size), np.int32))["params"]
    sampler = BatchSampler(corpus, TINY.batch_size, TINY.block_size, TINY.seed)
    evals = eval_data(sampler, TINY, 1)
    if train is fast.train or fused:
        kw = {"fused": fused} if train is fast.train else {}
        return train(model, params, TINY, sampler, evals, max_iters=steps, eval_interval=chunk, **kw)[1].step_losses
    optimizer = trainer.make_optimizer(TINY)
    step = jax.jit(trainer.make_step(model, optimizer))
    state, losses = (params, optimizer.init(params), jax.random.key(TINY.seed)), []
    for _ in range(steps // chunk):
        for x, y in zip(*sampler.sample_many(chunk, "train")):
            state, loss = step(state, (jnp.asarray(x), jnp.asarray(y)))
            losses.append(float(loss))
    return losses


@pytest.mark.slow  # trains four times (about 30 s)
@pytest.mark.training
@pytest.mark.parametrize("train", [trainer.train, fast.train], ids=["trainer", "fast"])
def test_scan_fused_and_per_step_loops_agree_bit_for_bit(corpus, train):
    fused, single = run(corpus, train, True), run(corpus, train, False)
    assert fused == single  # same key, same step, same batches: the same floats
    assert len(fused) == 6 and all(np.isfinite(fused))


def test_the_compiled_step_has_no_library_calls_or_rng_loops_on_cpu():
    model = components.build(learngpt_flax, "NanoGPT", TINY)
    params = model.init(jax.random.key(0), np.zeros((1, TINY.block_size), np.int32))["params"]
    optimizer = trainer.make_optimizer(TINY)
    step = fast.make_step(model, optimizer)
    xs = jnp.zeros((3, TINY.batch_size, TINY.block_size), jnp.int32)
    state = (params, optimizer.init(params), fast.dropout_key(0))
    scan = jax.jit(lambda s, x, y: jax.lax.scan(step, s, (x, y)))
    text = jax_fast.compile_program(scan.lower(state, xs, xs), "cpu").as_text()
    assert "__ynn_fusion" not in text  # COMPILER_OPTIONS: XLA's own kernels, not YNNPACK calls
    assert text.count(" while(") == 1  # the scan itself: no rolled threefry loop inside a step
    default = scan.lower((params, optimizer.init(params), jax.random.key(0)), xs, xs).compile().as_text()
    assert default.count(" while(") > 1  # what the threefry key costs: its rolled loops


def test_an_option_xla_does_not_know_is_dropped():
    calls = []

    class Lowered:
        def compile(self, compiler_options=None):
            calls.append(compiler_options)
            if compiler_options:
                raise RuntimeError("INVALID_ARGUMENT: No such compile option: 'xla_cpu_experimental_ynn_fusion_type'")
            return "compiled"
    assert jax_fast.compile_program(Lowered(), "cpu") == "compiled"
    assert calls == [jax_fast.COMPILER_OPTIONS["cpu"], None]
    calls.clear()
    assert jax_fast.compile_program(Lowered(), "gpu") == "compiled" and calls == [None]


@pytest.mark.parametrize("flops, options", [(1e6, True), (jax_fast.SMALL_FLOPS * 0.99, True),
                                            (jax_fast.SMALL_FLOPS, False), (4e9, False), (None, True)])
def test_only_a_small_program_turns_ynnpack_off(flops, options):
    """COMPILER_OPTIONS for a program under SMALL_FLOPS (or of unknown cost), XLA's defaults above it."""
    calls = []

    class Lowered:
        def cost_analysis(self):
            if flops is None:
                raise NotImplementedError("no cost model")
            return {"flops": flops}

        def compile(self, compiler_options=None):
            calls.append(compiler_options)
            return "compiled"
    jax_fast.compile_program(Lowered(), "cpu")
    assert calls == [jax_fast.COMPILER_OPTIONS["cpu"] if options else None]


def test_the_flops_rule_counts_one_step_of_a_scan():
    x, w = jnp.ones((256, 64)), jnp.ones((64, 64))
    one = jax_fast.flops(jax.jit(lambda x, w: x @ w).lower(x, w))
    scan = jax.jit(lambda x, w: jax.lax.scan(lambda c, _: (c @ w, None), x, None, length=10)[0])
    assert one == 2 * 256 * 64 * 64 and abs(jax_fast.flops(scan.lower(x, w)) - one) <= 16


def bits(a) -> np.ndarray:
    return np.asarray(a).view(np.uint32)


def test_stored_grad_is_the_identity_forward_and_backward_bit_for_bit():
    x = jnp.asarray([[1.5, -0.0, jnp.inf, jnp.nan, -2.0, 3e-39]], jnp.float32)  # 3e-39: a subnormal
    g = jnp.asarray([[jnp.nan, -0.0, -jnp.inf, 7.0, 1e-45, -3.0]], jnp.float32)

    def both(x, g):
        y, vjp = jax.vjp(jax_fast.stored_grad, x)
        return y, vjp(g)[0]
    for fn in (both, jax.jit(both)):
        y, gx = fn(x, g)
        assert (bits(y) == bits(x)).all() and (bits(gx) == bits(g)).all()


def test_the_fast_step_gives_the_same_gradients():
    model = components.build(learngpt_flax, "NanoGPT", TINY)
    params = model.init(jax.random.key(0), np.zeros((1, TINY.block_size), np.int32))["params"]
    x = jnp.asarray(np.random.default_rng(0).integers(0, TINY.vocab_size, (2, TINY.batch_size, TINY.block_size)))
    zeros = lambda tree: jax.tree_util.tree_map(jnp.zeros_like, tree)  # noqa: E731
    keep = optax.GradientTransformation(zeros, lambda g, s, p=None: (zeros(g), g))  # its state: the gradients
    grads = {}
    for store in (True, False):
        step = jax.jit((fast.make_step if store else trainer.make_step)(model, keep))
        grads[store] = step((params, keep.init(params), fast.dropout_key(0)), (x[0], x[1]))[0][1]
    for a, b in zip(jax.tree_util.tree_leaves(grads[True]), jax.tree_util.tree_leaves(grads[False])):
        a, b = np.asarray(a), np.asarray(b)
        # float32, the same maths summed in another order: within 1e-5 of the leaf's largest gradient
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max(), (np.abs(a - b).max(), np.abs(b).max())


def largest_kernels(hlo: str, n: int = 3) -> list[int]:
    """The n largest fused kernels of a compiled program's text (`compiled.as_text()`), in instructions: an
    elementwise chain XLA recomputes inside every consumer shows up here, growing with depth."""
    sizes = [sum(1 for line in body.splitlines() if re.match(r"\s+(ROOT )?%?[\w.\-]+ = ", line))
             for body in re.findall(r"^%?fused[\w.\-]* [^\n]*\{\n(.*?)^\}", hlo, re.S | re.M)]
    return sorted(sizes, reverse=True)[:n]


def largest_kernel(cfg: Config, store_grads: bool) -> int:
    """Instructions in the largest fused kernel of one compiled training step (SGD: less to compile than
    AdamW, the same backward) of NanoGPT at cfg."""
    model = components.build(learngpt_flax, "NanoGPT", cfg)
    params = model.init(jax.random.key(0), np.zeros((1, cfg.block_size), np.int32))["params"]
    optimizer = optax.sgd(1.0)
    step = fast.make_step(model, optimizer, fast.INTERCEPTORS if store_grads else (fast.dense_grads,))
    xs = jnp.zeros((cfg.batch_size, cfg.block_size), jnp.int32)
    state = (params, optimizer.init(params), fast.dropout_key(0))
    return largest_kernels(jax_fast.compile_program(jax.jit(step).lower(state, (xs, xs)), "cpu").as_text(), 1)[0]


def test_the_backward_kernels_do_not_grow_with_depth_on_cpu():
    """store_norm_grads: each LayerNorm's input gradient is stored once, so the step's largest kernel is the
    same at 1 and at 3 blocks; without it XLA recomputes the residual stream's gradient chain from the top
    inside every kernel that reads it, and the largest kernel grows with every block (~68 instructions a
    block at C 16). Dropout off: less to compile, the same chain."""
    shallow, deep = TINY.replace(n_layers=1, dropout=0.0), TINY.replace(n_layers=3, dropout=0.0)
    stored = [largest_kernel(cfg, True) for cfg in (shallow, deep)]
    recomputed = [largest_kernel(cfg, False) for cfg in (shallow, deep)]
    assert stored[1] == stored[0], stored
    assert recomputed[1] > recomputed[0] + 50, recomputed


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("fan_in, fan_out", [(4, 5), (9, 2)])  # x^T made, or g^T and the result
def test_dense_gives_nn_dense_output_and_gradients(bias, fan_in, fan_out):
    """dense_grads swaps nn.Dense for dense: in float64 the output and all three gradients agree with
    autodiff through nn.Dense to roundoff (1e-12 of the largest), on a 3-d input, in both of dense's
    layouts of the kernel's gradient."""
    with jax.enable_x64(True):
        layer = nn.Dense(fan_out, use_bias=bias, param_dtype=jnp.float64)
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.normal(size=(2, 3, fan_in)))
        g = jnp.asarray(rng.normal(size=(2, 3, fan_out)))
        params = layer.init(jax.random.key(0), x)
        params = jax.tree_util.tree_map(lambda p: jnp.asarray(rng.normal(size=p.shape)), params)

        def grads(intercept: bool):
            def f(params, x):
                with nn.intercept_methods(fast.dense_grads) if intercept else contextlib.nullcontext():
                    return layer.apply(params, x)
            y, vjp = jax.vjp(f, params, x)
            return y, vjp(g)
        for a, b in zip(jax.tree_util.tree_leaves(grads(True)), jax.tree_util.tree_leaves(grads(False))):
            assert a.shape == b.shape and a.dtype == b.dtype
            assert np.abs(np.asarray(a) - np.asarray(b)).max() <= 1e-12 * np.abs(np.asarray(b)).max()


def test_dense_grads_leaves_a_dense_with_its_own_dtype_or_precision_alone():
    seen = []
    real = fast.dense

    def spy(*args):
        seen.append(len(args))
        return real(*args)
    x = jnp.ones((2, 4))
    for layer, expect in ((nn.Dense(3), 1), (nn.Dense(3, dtype=jnp.bfloat16), 0),
                          (nn.Dense(3, precision=jax.lax.Precision.HIGHEST), 0)):
        params = layer.init(jax.random.key(0), x)
        seen.clear()
        fast.dense = spy
        try:
            with nn.intercept_methods(fast.dense_grads):
                out = layer.apply(params, x)
        finally:
            fast.dense = real
        assert len(seen) == expect and out.dtype == layer.apply(params, x).dtype


def test_no_weight_gradient_dot_contracts_its_first_dimension_on_cpu():
    """dense_grads: in the compiled fast step no dot contracts the left operand's first dimension (the slow
    layout of XLA's CPU dot, autodiff's x^T g); the lesson's step has such dots."""
    def contracting_first(make_step) -> int:
        model = components.build(learngpt_flax, "NanoGPT", TINY.replace(dropout=0.0))
        params = model.init(jax.random.key(0), np.zeros((1, TINY.block_size), np.int32))["params"]
        optimizer = optax.sgd(1.0)
        xs = jnp.zeros((TINY.batch_size, TINY.block_size), jnp.int32)
        state = (params, optimizer.init(params), fast.dropout_key(0))
        text = jax_fast.compile_program(jax.jit(make_step(model, optimizer)).lower(state, (xs, xs)), "cpu").as_text()
        return len(re.findall(r" dot\([^\n]*lhs_contracting_dims=\{0\}", text))
    assert contracting_first(fast.make_step) == 0
    assert contracting_first(trainer.make_step) > 0

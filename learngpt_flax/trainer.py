"""The training loop in Flax: a jitted AdamW step, the steps between two evaluations fused in one lax.scan.

Two choices make the compiled step faster on CPU without changing its maths (docs/bench.md, "The Flax loop"):
dropout draws from DROPOUT_RNG, XLA's RngBitGenerator run as Threefry (no rolled threefry loops in the step,
2,725 kernels a step down to 760; the masks are other masks, equally Bernoulli(1 - rate)), and on CPU the
programs are compiled with XLA's YNNPACK library fusions off (COMPILER_OPTIONS: 203 reductions and dot fusions
a step, each a library call with a fixed cost larger than the work at these sizes, run as XLA's own kernels).
A third is in the backward pass: the gradient of each LayerNorm's input is stored once (store_norm_grads),
where XLA on CPU would recompute the residual stream's whole gradient chain inside every kernel that reads it.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from jax.extend.random import define_prng_impl
from tqdm.auto import tqdm

from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt import checks
from learngpt.training import History, check_finite, chunks, eval_data, record_eval
from learngpt_flax.layer_norm import LayerNorm
from learngpt_flax.optim import make_optimizer  # torch.optim.AdamW's arithmetic as an optax transformation


def _bits(key: jax.Array, shape: tuple, dtype) -> jax.Array:
    """shape random bits of dtype from a (4,) uint32 key: XLA's RngBitGenerator, Threefry-2x32."""
    threefry = jax.lax.RandomAlgorithm.RNG_THREE_FRY
    return jax.lax.rng_bit_generator(key, shape, dtype=dtype, algorithm=threefry)[1]


def _split(key: jax.Array, shape: tuple) -> jax.Array:
    """shape new keys: every 10th of 10 n draws, as unsafe_rbg splits."""
    n = int(np.prod(shape))
    return jax.lax.slice_in_dim(_bits(key, (10 * n, 4), jnp.uint32), None, None, stride=10).reshape(*shape, 4)


def _fold_in(key: jax.Array, data: jax.Array) -> jax.Array:
    """key mixed with data (flax's make_rng folds each module's path in), as unsafe_rbg folds."""
    return key ^ _bits(jax.random.key_data(jax.random.key(data, impl="unsafe_rbg")), (10, 4), jnp.uint32)[-1]


# The dropout stream's PRNG: JAX's unsafe_rbg (keys split and folded by XLA's RngBitGenerator, no rolled
# threefry loop) with the generator run as Threefry-2x32 instead of XLA's default, Philox-4x32, whose CPU
# expansion computes each 4-word block once per output word. Measured in docs/bench.md ("The Flax loop").
DROPOUT_RNG = define_prng_impl(
    key_shape=(4,), seed=lambda seed: jax.random.key_data(jax.random.key(seed, impl="unsafe_rbg")),
    split=_split, fold_in=_fold_in, name="rbg_threefry", tag="rtf",
    random_bits=lambda key, width, shape: _bits(key, shape, jnp.dtype(f"uint{width}")))
# per-program XLA options on CPU: YNNPACK's library fusions off (module docstring); dropped if this jaxlib
# does not know the option
COMPILER_OPTIONS = {"cpu": {"xla_cpu_experimental_ynn_fusion_type": ""}}


def dropout_key(seed: int) -> jax.Array:
    """The key the trainer's dropout draws from by default: seed in the DROPOUT_RNG implementation."""
    return jax.random.key(seed, impl=DROPOUT_RNG)


def compile_program(lowered, platform: str):
    """lowered.compile() with COMPILER_OPTIONS for platform; without them if XLA refuses them (an option this
    jaxlib does not have)."""
    options = COMPILER_OPTIONS.get(platform)
    if options:
        try:
            return lowered.compile(compiler_options=options)
        except Exception as err:  # jax.errors.JaxRuntimeError: INVALID_ARGUMENT, no such option
            if "option" not in str(err):
                raise
    return lowered.compile()


def _platform(tree) -> str:
    """cpu, gpu, ...: where the first jax array of tree lives (the default backend if none is one)."""
    for leaf in jax.tree_util.tree_leaves(tree):
        if isinstance(leaf, jax.Array):
            return next(iter(leaf.devices())).platform
    return jax.default_backend()


def init_params(model, example, seed: int = 0) -> Any:
    """Fresh params drawn natively in Flax (the same distributions as torch's defaults); {} for a module
    without any (week 1's averaging heads)."""
    return model.init({"params": jax.random.key(seed)}, example).get("params", {})


@jax.custom_vjp
def stored_grad(x: jax.Array) -> jax.Array:
    """x itself; in the backward pass its gradient is read through a gather (of every element, in place),
    which XLA computes once and stores, instead of fusing the computation of that gradient into each kernel
    that reads it. Exact: the gather copies the values, NaN and inf included."""
    return x


def _stored_grad_fwd(x):
    return x, None


def _stored_grad_bwd(_, g):
    return (jnp.take(g, jnp.arange(g.shape[-1]), axis=-1, mode="clip"),)


stored_grad.defvjp(_stored_grad_fwd, _stored_grad_bwd)

LAYER_NORMS = (LayerNorm, nn.LayerNorm)  # the curriculum's own and flax's (GPTVer4's ln_f)


def store_norm_grads(next_fun, args, kwargs, context):
    """A flax method interceptor: the input of every LayerNorm goes through stored_grad.

    Why: in a stack of pre-norm blocks the gradient of the residual stream at block l is the sum of the
    contributions of every block above it, all elementwise. XLA on CPU fuses an elementwise producer into
    each of its consumers, so every kernel that reads that gradient (a bias's sum, the transposed copy a
    weight's gradient multiplies, the next LayerNorm's backward) recomputed the chain from the top: in
    NanoGPT's step the largest kernels grew with depth (420, 366, 334 ... instructions) and took about a
    quarter of its kernel time. Stored once at each LayerNorm's input, none exceeds 183 (docs/bench.md,
    "The Flax loop")."""
    if context.method_name == "__call__" and isinstance(context.module, LAYER_NORMS) and args:
        args = (stored_grad(args[0]),) + tuple(args[1:])
    return next_fun(*args, **kwargs)


def make_step(model, optimizer: optax.GradientTransformation, store_grads: bool = True):
    """One AdamW step: (params, opt_state, key), (x, y) -> new state, loss. Dropout draws from key.
    store_grads: each LayerNorm's input gradient stored once (store_norm_grads); the same maths."""
    def step(state, batch):
        params, opt_state, key = state
        x, y = batch  # (B, T), (B, T)
        key, dropout_key = jax.random.split(key)

        def loss_fn(p):
            with nn.intercept_methods(store_norm_grads) if store_grads else contextlib.nullcontext():
                _, loss = model.apply({"params": p}, x, y, deterministic=False, rngs={"dropout": dropout_key})
            return loss

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, key), loss
    return step


# Compiled programs, kept for the whole process: a second run of the same architecture (another seed, another
# question) reuses them instead of compiling again. The key is everything the program depends on: the
# module's structure (its repr lists every field, nested modules included), the optimiser's values, the
# program, the x64 mode and every argument's shape and dtype.
_COMPILED: dict = {}


def make_evaluate(model):
    """Mean loss over batches xs, ys (n, B, T), deterministic (dropout off), jitted as one program."""
    @jax.jit
    def evaluate(params, xs, ys):
        losses = jax.lax.map(lambda b: model.apply({"params": params}, b[0], b[1])[1], (xs, ys))  # (n,)
        return losses.mean()
    return evaluate


def train(model, params, cfg: Config, sampler: BatchSampler, evals: dict | None = None,
          max_iters: int | None = None, eval_interval: int | None = None, progress: bool = False,
          key: jax.Array | None = None, fused: bool = True, desc: str = "flax") -> tuple[Any, History]:
    """Train for max_iters AdamW steps on sampler's batches; returns the new params and the history. Dropout
    draws from key (default: dropout_key(cfg.seed)).

    fused=True runs each chunk of steps between two evaluations as one compiled lax.scan (one dispatch
    per chunk); fused=False calls the jitted step once per step. Compile time is measured apart.
    """
    max_iters = cfg.max_iters if max_iters is None else max_iters
    eval_interval = cfg.eval_interval if eval_interval is None else eval_interval
    evals = eval_data(sampler, cfg) if evals is None else evals
    key = dropout_key(cfg.seed) if key is None else key
    optimizer = make_optimizer(cfg)
    step = make_step(model, optimizer)
    evaluate = make_evaluate(model)
    scan = jax.jit(lambda state, xs, ys: jax.lax.scan(step, state, (xs, ys)))
    single = jax.jit(step)
    history = History("flax")
    platform = _platform(params)
    structure = (repr(model), cfg.learning_rate, cfg.betas, cfg.eps, cfg.weight_decay,
                 jax.config.jax_enable_x64, platform)
    state = (params, optimizer.init(params), key)
    for ids in (a for pair in evals.values() for a in pair):  # host arrays: checked where it is free
        checks.check_token_ids(ids.dtype, model.vocab_size, int(ids.min()), int(ids.max()))
    eval_arrays = {split: (jnp.asarray(x), jnp.asarray(y)) for split, (x, y) in evals.items()}
    bar = tqdm(total=max_iters, desc=desc, disable=not progress, leave=False)

    def compile_once(name, fn, *args):
        leaves = jax.tree_util.tree_leaves(args)
        signature = structure + (name,) + tuple((np.shape(a), str(getattr(a, "dtype", type(a))))
                                                for a in leaves)
        if signature not in _COMPILED:
            t0 = time.perf_counter()
            _COMPILED[signature] = compile_program(fn.lower(*args), platform)
            history.compile_seconds += time.perf_counter() - t0
        return _COMPILED[signature]

    def estimate() -> None:
        t0 = time.perf_counter()
        losses = {}
        for split in ("train", "val"):
            program = compile_once("eval", evaluate, state[0], *eval_arrays[split])
            losses[split] = float(program(state[0], *eval_arrays[split]))
        record_eval(history, losses["train"], losses["val"], t0, bar)

    for start, stop in chunks(max_iters, eval_interval):
        estimate()
        xs, ys = sampler.sample_many(stop - start, "train")  # (n, B, T) each: the same stream torch draws
        for ids in (xs, ys):  # on the host, where it is free: under jit a bad id would poison the whole step
            checks.check_token_ids(ids.dtype, model.vocab_size, int(ids.min()), int(ids.max()))
        xs, ys = jnp.asarray(xs), jnp.asarray(ys)
        if fused:
            run = compile_once("scan", scan, state, xs, ys)
            t0 = time.perf_counter()
            state, losses = run(state, xs, ys)
            losses = np.asarray(jax.block_until_ready(losses))
        else:
            run = compile_once("step", single, state, (xs[0], ys[0]))
            # host copies in the device dtype: indexing a jax array dispatches two slicing programs per step
            xs_host, ys_host = np.asarray(xs), np.asarray(ys)
            t0 = time.perf_counter()
            out = []
            for i in range(stop - start):
                state, loss = run(state, (xs_host[i], ys_host[i]))
                out.append(loss)
            losses = np.asarray(jax.block_until_ready(jnp.stack(out)))
        history.train_seconds += time.perf_counter() - t0
        check_finite(losses, start)  # a diverged run stops here, naming the step
        history.step_losses += losses.tolist()
        history.steps = stop
        bar.update(stop - start)
    estimate()
    bar.close()
    return state[0], history

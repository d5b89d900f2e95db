"""Flax's AdamW (learngpt_jax/optim.py: linen's optax state in learngpt_flax/optim.py, NNX's nnx.Optimizer in
learngpt_nnx/optim.py) against torch.optim.AdamW, step for step, on the same gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from learngpt.config import Config
from learngpt_flax.optim import make_optimizer as flax_adamw
from learngpt_nnx.optim import make_optimizer as nnx_adamw
from learngpt_torch.optim import make_optimizer as torch_adamw

BOUND = {"float32": 1e-6, "float64": 1e-14}  # max |parameter diff| after STEPS updates
STEPS = 100


def run(dtype, optimizer_for_flax):
    rng = np.random.default_rng(0)
    init = rng.uniform(-0.25, 0.25, (64, 32)).astype(dtype)  # a Linear's scale
    drift = rng.standard_normal((64, 32))  # a loss pulls in a consistent direction, plus noise
    grads = [(drift + 0.3 * rng.standard_normal((64, 32))).astype(dtype) for _ in range(STEPS)]
    cfg = Config()
    param = torch.nn.Parameter(torch.tensor(init))
    model = torch.nn.Module()
    model.w = param
    opt = torch_adamw(model, cfg)
    with jax.enable_x64(dtype == "float64"):
        params = {"w": jnp.asarray(init)}
        tx = optimizer_for_flax(cfg)
        state = tx.init(params)
        update = jax.jit(tx.update)
        for g in grads:
            param.grad = torch.tensor(g)
            opt.step()
            updates, state = update({"w": jnp.asarray(g)}, state, params)
            params = optax.apply_updates(params, updates)
        return float(np.max(np.abs(param.detach().numpy().astype(np.float64) - np.asarray(params["w"], np.float64))))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_flax_adamw_follows_torch(dtype):
    diff = run(dtype, flax_adamw)
    print(f"[{dtype}] max |torch - flax| after {STEPS} AdamW steps: {diff:.2e}")
    assert diff <= BOUND[dtype]


def test_optax_adamw_bias_correction_is_what_optim_py_fixes():
    """optax.adamw with the same values computes 1 - b2**t in float32: measurably further from torch."""
    def optax_adamw(cfg):
        return optax.adamw(cfg.learning_rate, b1=cfg.betas[0], b2=cfg.betas[1], eps=cfg.eps,
                           weight_decay=cfg.weight_decay)
    ours, theirs = run("float32", flax_adamw), run("float32", optax_adamw)
    print(f"float32, max |torch - flax|: optim.py {ours:.2e}, optax.adamw {theirs:.2e}")
    assert theirs > 2 * ours and theirs > BOUND["float32"]


def test_nnx_adamw_takes_the_steps_linen_takes():
    """NNX's nnx.Optimizer, stepping a model in place, holds the same transformation as linen's optax state:
    the same parameters after every step, bit for bit, in float32."""
    from flax import nnx

    rng = np.random.default_rng(1)
    init = rng.uniform(-0.25, 0.25, (8, 4)).astype(np.float32)
    grads = [rng.standard_normal((8, 4)).astype(np.float32) for _ in range(20)]
    cfg = Config()

    class Holder(nnx.Module):
        def __init__(self):
            self.w = nnx.Param(jnp.asarray(init))
    model = Holder()
    optimizer = nnx_adamw(model, cfg)
    tx = flax_adamw(cfg)
    params = {"w": jnp.asarray(init)}
    state = tx.init(params)
    for g in grads:
        optimizer.update(model, nnx.State({"w": nnx.Param(jnp.asarray(g))}))
        updates, state = tx.update({"w": jnp.asarray(g)}, state, params)
        params = optax.apply_updates(params, updates)
        np.testing.assert_array_equal(np.asarray(model.w[...]), np.asarray(params["w"]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_adamw_foreach_is_the_per_parameter_loop_bit_for_bit(dtype):
    """make_optimizer's foreach=True (one call per operation over all the parameters) takes the steps of
    torch's per-parameter loop (foreach=False, CPU's default), to the last bit: a GPT of several shapes."""
    from learngpt.components import NANOGPT
    from learngpt_lab import backends
    cfg = Config(n_layers=2, weight_decay=0.1)
    runs = []
    for foreach in (True, False):
        model = backends.get("torch").create(NANOGPT.recipe(cfg), seed=0).module.to(dtype)
        opt = torch_adamw(model, cfg)
        if not foreach:
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, betas=cfg.betas, eps=cfg.eps,
                                    weight_decay=cfg.weight_decay, foreach=False)
        assert opt.defaults["foreach"] is foreach
        g = torch.Generator().manual_seed(1)
        for _ in range(20):
            x, y = (torch.randint(0, model.vocab_size, (4, cfg.block_size), generator=g) for _ in range(2))
            _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        runs.append(torch.cat([p.detach().ravel() for p in model.parameters()]))
    assert torch.equal(*runs)

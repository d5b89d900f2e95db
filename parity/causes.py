"""Likely causes of a first divergence: the frameworks' known default mismatches (DESIGN.md's table), each
tried numerically on the torch layer's own input and weights, and named only when the Flax value is that
alternative's (CLOSER). Nothing is named on a guess.
"""
import math
from typing import Any, Mapping, Sequence

import numpy as np

EPSILONS = (1e-5, 1e-6, 1e-12, 1e-8, 1e-3)
CLOSER = 0.1  # an alternative fits when it is at least 10 times closer to the Flax value than torch's is

ACTIVATIONS = {
    "GELU, exact (erf)": lambda h: 0.5 * h * (1.0 + np.vectorize(math.erf, otypes=[np.float64])(h / math.sqrt(2.0))),
    "GELU, tanh approximation": lambda h: 0.5 * h * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h ** 3))),
    "ReLU": lambda h: np.maximum(h, 0.0),
    "SiLU": lambda h: h / (1.0 + np.exp(-h)),
    "tanh": np.tanh,
}


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _dist(a, b) -> float:
    return float(np.max(np.abs(_f64(a) - _f64(b)))) if np.shape(a) == np.shape(b) and np.size(a) else math.inf


def _fits(alternative, flax_value, torch_value) -> bool:
    """The Flax value is the alternative's: far closer to it than to torch's value."""
    to_torch = _dist(flax_value, torch_value)
    return to_torch > 0 and _dist(alternative, flax_value) <= CLOSER * to_torch


def _float_input(call) -> np.ndarray | None:
    from parity.check import _skipped_input
    for name, value in (call.inputs or {}).items():
        if not _skipped_input(name, value):
            return _f64(value)
    return None if call.input is None or call.input.dtype.kind != "f" else _f64(call.input)


def _param(module, name: str) -> np.ndarray | None:
    value = getattr(module, name, None)
    return None if value is None or not hasattr(value, "detach") else _f64(value.detach().cpu().numpy())


def _layer_norm(module, x, flax_y, torch_y, label) -> list[str]:
    eps = getattr(module, "eps", None) or getattr(module, "variance_epsilon", None)
    w, b = _param(module, "weight"), _param(module, "bias")
    if eps is None or x is None:
        return []
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    for alt in EPSILONS:
        y = (x - mean) / np.sqrt(var + alt) * (1.0 if w is None else w) + (0.0 if b is None else b)
        if not math.isclose(alt, eps) and _fits(y, flax_y, torch_y):
            return [f"LayerNorm epsilon at {label}: the Flax output is this LayerNorm's with epsilon {alt:g}, "
                    f"torch's is {eps:g} (Flax's nn.LayerNorm defaults to 1e-6, torch's to 1e-5): give the "
                    f"Flax LayerNorm epsilon={eps:g}"]
    return []


def _linear(module, x, flax_y, torch_y, label) -> list[str]:
    w, b = _param(module, "weight"), _param(module, "bias")
    if w is None or w.ndim != 2 or x is None:
        return []
    bias = 0.0 if b is None else b
    out = []
    if w.shape[0] == w.shape[1] and x.shape[-1] == w.shape[0]:
        linear, conv1d = x @ w.T + bias, x @ w + bias  # nn.Linear's (out, in) layout, and Conv1D's (in, out)
        other = conv1d if _dist(linear, torch_y) <= _dist(conv1d, torch_y) else linear
        if _fits(other, flax_y, torch_y):
            out.append(f"a transposed square kernel at {label}: the Flax output is this layer's with its "
                       f"{w.shape} weight transposed (the shapes fit, so nothing refused it): the rule for its "
                       f"kernel needs the other layout (leaf('kernel', 'weight', 'transpose' or 'none', under=...))")
    if b is not None and np.any(b != 0) and _fits(torch_y - b, flax_y, torch_y):
        out.append(f"a missing or zero bias at {label}: the Flax output is this layer's without its bias "
                   f"(use_bias=False, or a bias left at zero or not carried over)")
    return out


def _activation(before, target_flax, target_torch, label, where) -> list[str]:
    """The Flax value is a known activation of the torch output of the last layer that agrees."""
    if before is None or before.output is None:
        return []
    h = _f64(before.output)
    if h.shape != np.shape(target_flax):
        return []
    torch_is = next((n for n, f in ACTIVATIONS.items() if _dist(f(h), target_torch) <= CLOSER * _dist(
        target_flax, target_torch)), None)
    for name, f in ACTIVATIONS.items():
        if name != torch_is and _fits(f(h), target_flax, target_torch):
            return [f"the activation {where} {label}: the Flax value is {name} of {before.name or '(model)'}'s "
                    f"output, torch's is {torch_is or 'another function'}"]
    return []


def tf32(devices: Sequence[str]) -> list[str]:
    """TF32 matmuls (10-bit mantissas) on a GPU: torch's allow_tf32 / matmul precision or JAX's default."""
    if not any(d.startswith(("cuda", "gpu")) for d in devices):
        return []
    import jax
    import torch
    out = []
    if torch.backends.cuda.matmul.allow_tf32 or torch.get_float32_matmul_precision() != "highest":
        out.append("TF32 on the GPU: torch multiplies float32 matrices in TF32 (torch.backends.cuda.matmul."
                   "allow_tf32 / set_float32_matmul_precision): set 'highest' on both sides for a parity check")
    if jax.default_backend() == "gpu" and jax.config.jax_default_matmul_precision in (None, "default", "bfloat16",
                                                                                     "tensorfloat32"):
        out.append("TF32 on the GPU: XLA's default float32 matmul precision on a GPU is TF32: run under "
                   "jax.default_matmul_precision('highest')")
    return out


def _torch_layout(value, how) -> np.ndarray:
    """A Flax array in torch's layout (channels first where the layer's arrays lie MOVED)."""
    from parity.check import MOVED
    value = _f64(value)
    return np.moveaxis(value, -1, 1) if how == MOVED and value.ndim >= 3 else value


def _conv(module, x, flax_y, torch_y, label) -> list[str]:
    import torch
    import torch.nn.functional as F
    w, b = _param(module, "weight"), _param(module, "bias")
    dims = w.ndim - 2
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]

    def run(weight, x_in, padding):
        return conv(torch.as_tensor(x_in), torch.as_tensor(weight), None if b is None else torch.as_tensor(b),
                    module.stride, padding, module.dilation, module.groups).numpy()

    if isinstance(module.padding, str):
        return []
    out = []
    if dims == 2 and w.shape[2] == w.shape[3] and _fits(run(w.transpose(0, 1, 3, 2), x, module.padding), flax_y,
                                                        torch_y):
        out.append(f"kernel axes at {label}: the Flax kernel holds torch's window axes swapped (kh, kw): carry it "
                   f"with permute(2, 3, 1, 0), parity's default for a Conv2d weight (a rule reversing every axis "
                   f"swaps them)")
    for pad in range(0, max(w.shape[2:]) + 1):
        if (pad,) * dims != tuple(module.padding) and np.shape(flax_y) == np.shape(torch_y) and _fits(
                run(w, x, pad), flax_y, torch_y):
            out.append(f"padding at {label}: the Flax output is this convolution's with padding {pad} on every "
                       f"side, torch's is {tuple(module.padding)}: give Flax's Conv padding={tuple(module.padding)}")
            break
    else:  # 'SAME' as XLA pads it: the odd one low, for a stride that does not divide the input
        pairs = [(t // 2, t - t // 2) for t in (max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0) for n, k, s, d
                                                in zip(x.shape[2:], w.shape[2:], module.stride, module.dilation))]
        same = run(w, np.pad(x, [(0, 0), (0, 0)] + pairs), 0)
        if same.shape == np.shape(torch_y) and _fits(same, flax_y, torch_y):
            out.append(f"padding at {label}: the Flax output is this convolution's with padding 'SAME' (uneven: "
                       f"{list(pairs[-1])}), torch's is {tuple(module.padding)} on both sides: give Flax's Conv "
                       f"padding={[(p, p) for p in module.padding]}")
    if b is not None and np.any(b != 0) and _fits(_f64(torch_y) - b.reshape((1, -1) + (1,) * dims), flax_y, torch_y):
        out.append(f"a missing or zero bias at {label}: the Flax output is this convolution's without its bias "
                   f"(use_bias=False, or a bias not carried over)")
    return out


def _batch_norm(module, x, flax_y, torch_y, label) -> list[str]:
    w, b = _param(module, "weight"), _param(module, "bias")
    mean, var = _param(module, "running_mean"), _param(module, "running_var")
    if x is None or mean is None or x.ndim < 2:
        return []
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)

    def norm(m, v, eps):
        y = (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + eps)
        return y * (1.0 if w is None else w.reshape(shape)) + (0.0 if b is None else b.reshape(shape))

    for alt in EPSILONS:
        if not math.isclose(alt, module.eps) and _fits(norm(mean, var, alt), flax_y, torch_y):
            return [f"BatchNorm epsilon at {label}: the Flax output is this BatchNorm's with epsilon {alt:g}, "
                    f"torch's is {module.eps:g}: give the Flax BatchNorm epsilon={module.eps:g}"]
    if _fits(norm(np.zeros_like(mean), np.ones_like(var), module.eps), flax_y, torch_y):
        return [f"missing statistics at {label}: the Flax BatchNorm normalised with its initial mean 0 and "
                f"variance 1: carry torch's running_mean/running_var into its batch_stats"]
    if _fits(norm(x.mean(axes), x.var(axes), module.eps), flax_y, torch_y):
        return [f"train mode at {label}: the Flax BatchNorm normalised with the batch's own statistics in eval "
                f"mode: give it use_running_average=True (or its eval flag)"]
    return []


def _flatten(calls_before, flax_in, torch_in, label) -> list[str]:
    """The input of a layer after a flatten is torch's (C, H, W) order read channels last."""
    if torch_in is None or flax_in is None or torch_in.ndim != 2 or np.shape(flax_in) != torch_in.shape:
        return []
    for call in reversed(calls_before):
        shape = None if call.output is None else call.output.shape
        if shape is not None and len(shape) >= 3 and shape[0] == torch_in.shape[0] and \
                int(np.prod(shape[1:])) == torch_in.shape[1]:
            alt = np.moveaxis(torch_in.reshape(shape), 1, -1).reshape(torch_in.shape)
            if _fits(alt, flax_in, torch_in):
                return [f"flatten order before {label}: the Flax input is torch's {tuple(shape[1:])} flattened "
                        f"channels last: move the channels first before the reshape (or permute the Linear's "
                        f"input rows)"]
            return []
    return []


def _pooling(module, x, flax_next_in, torch_next_in, label) -> list[str]:
    """A torch average pool without a Flax twin (Flax pools with a function) that fits with count_include_pad
    flipped."""
    import torch
    if x is None or not hasattr(module, "count_include_pad") or flax_next_in is None:
        return []
    flipped = type(module)(module.kernel_size, module.stride, module.padding, module.ceil_mode,
                           not module.count_include_pad)
    alt = flipped(torch.as_tensor(x)).numpy()
    if alt.shape == np.shape(flax_next_in) and _fits(alt, flax_next_in, torch_next_in):
        return [f"count_include_pad at {label}: the Flax value is this average pool's with count_include_pad="
                f"{not module.count_include_pad} (torch's is {module.count_include_pad}; Flax's avg_pool counts "
                f"the padding unless count_include_pad=False)"]
    return []


def momentum_convention(key, old, torch_new, flax_new, momentum, n) -> list[str]:
    """The Flax statistic is Flax's BatchNorm update with torch's momentum copied (Flax weighs the old
    statistics by momentum, torch the new batch)."""
    batch = (torch_new - (1 - momentum) * old) / momentum
    if n:
        batch = batch * (n - 1) / n  # Flax's update uses the biased batch variance
    alt = momentum * old + (1 - momentum) * batch
    if _fits(alt, flax_new, (1 - momentum) * old + momentum * batch):
        return [f"BatchNorm momentum convention at {key}: the Flax statistic is Flax's update with momentum="
                f"{momentum:g}, torch's value for the new batch; Flax's momentum weighs the old statistics: give "
                f"Flax momentum={1 - momentum:g}"]
    return []


def _recurrent(module, x, flax_y, torch_y, label) -> list[str]:
    """A torch LSTM/GRU whose Flax twin holds one of torch's two biases, not their sum."""
    import copy
    import torch
    out = []
    for kept, dropped in (("bias_hh", "bias_ih"), ("bias_ih", "bias_hh")):
        names = [n for n, _ in module.named_parameters() if n.startswith(dropped)]
        if not names or x is None:
            continue
        alt = copy.deepcopy(module).double()
        with torch.no_grad():
            for n in names:
                getattr(alt, n).zero_()
            y = alt(torch.as_tensor(x))[0].numpy()
        if _fits(y, flax_y, torch_y):
            out.append(f"one bias where torch adds two at {label}: the Flax output is this {type(module).__name__}'s "
                       f"with {dropped} left out; torch adds bias_ih and bias_hh, a Flax cell holds their sum "
                       f"(parity's {type(module).__name__} rule carries it)")
    return out


def _attention(module, x, flax_y, torch_y, label) -> list[str]:
    """nn.MultiheadAttention with another scale of its scores (none, or 1/d instead of 1/sqrt(d))."""
    import torch
    import torch.nn.functional as F
    if x is None or not getattr(module, "batch_first", False) or module.in_proj_weight is None:
        return []
    heads, width = module.num_heads, module.embed_dim
    d = width // heads
    q, k, v = F.linear(torch.as_tensor(x), module.in_proj_weight.double(),
                       None if module.in_proj_bias is None else module.in_proj_bias.double()).chunk(3, -1)
    split = [t.reshape(t.shape[0], t.shape[1], heads, d).transpose(1, 2) for t in (q, k, v)]
    for name, scale in (("no scale", 1.0), ("1/d", 1.0 / d), ("1/sqrt(embed size)", width ** -0.5)):
        if math.isclose(scale, d ** -0.5):
            continue
        w = torch.softmax(split[0] @ split[1].transpose(-2, -1) * scale, -1)
        o = (w @ split[2]).transpose(1, 2).reshape(x.shape[0], x.shape[1], width)
        y = F.linear(o, module.out_proj.weight.double(), None if module.out_proj.bias is None else
                     module.out_proj.bias.double()).detach().numpy()
        if _fits(y, flax_y, torch_y):
            return [f"the attention scale at {label}: the Flax output is this attention's with {name} on its "
                    f"scores; torch's scales by 1/sqrt(head size) = 1/sqrt({d})"]
    return []


def likely_causes(first, layers: Sequence[Any], calls: Sequence[Any], twins: Mapping[str, Any], torch_module,
                  dtype: str, layouts=None) -> list[str]:
    """What fits the first divergent layer, from the checklist (module docstring); [] when nothing does."""
    import torch
    by_name = {c.name: c for c in calls}
    call, twin, out = by_name.get(first.name), twins.get(first.name) or {}, []
    if call is None:
        return out
    modules = dict(torch_module.named_modules())
    module = modules.get(first.name.split("#")[0])

    def how(name, value):
        return None if layouts is None or value is None else layouts.of(name.split("#")[0], np.ndim(value))

    index = layers.index(first)
    before = next((by_name.get(layer.name) for layer in reversed(layers[:index]) if layer.compared and layer.ok),
                  None)
    x = _float_input(call)
    if not first.output_ok and twin.get("output") is not None and call.output is not None:
        flax_y, torch_y = _torch_layout(twin["output"], how(first.name, twin["output"])), _f64(call.output)
        if module is not None and flax_y.shape == torch_y.shape:
            check = (_conv if isinstance(module, torch.nn.modules.conv._ConvNd) else
                     _batch_norm if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) else
                     _recurrent if isinstance(module, torch.nn.RNNBase) else
                     _attention if isinstance(module, torch.nn.MultiheadAttention) else
                     _layer_norm if hasattr(module, "normalized_shape") or "Norm" in type(module).__name__ else _linear)
            out += check(module, x, flax_y, torch_y, first.label)
        if not out and first.input_ok:
            out += _activation(before, flax_y, torch_y, first.label, "inside")
    if not first.input_ok:
        flax_in = next((v for k, v in (twin.get("inputs") or {}).items() if v.dtype.kind == "f"), None)
        flax_in = None if flax_in is None else _torch_layout(flax_in, how(first.name, flax_in))
        if flax_in is not None and x is not None and np.shape(flax_in) == x.shape:
            start = calls.index(before) + 1 if before in calls else 0
            between = [c for c in calls[start:calls.index(call)] if c.name and not twins.get(c.name)]
            for c in between:
                out += _pooling(modules.get(c.name.split("#")[0]), _float_input(c), flax_in, x, c.name)
            out += _flatten(calls[:calls.index(call)], flax_in, x, first.label)
            if not out:
                out += _activation(before, flax_in, x, first.label, "before")
    if dtype == "float64" and not out and first.compared and first.rel is not None and \
            1e-9 < first.rel < 1e-5 and (first.input_rel or 0.0) < 1e-12:
        out.append(f"float32 arithmetic inside a float64 run at {first.label}: its difference is of float32's "
                   f"roundoff ({first.rel:.1e} relative); a Flax module built without x64, or with dtype float32, "
                   f"computes so (as jax.nn.dot_product_attention's XLA path does: NNX's MultiHeadAttention calls it "
                   f"unless sow_weights=True or dropout is on)")
    import jax  # compare runs both frameworks: both are here
    return out + tf32([str(p.device) for p in list(torch_module.parameters())[:1]] + [jax.default_backend()])

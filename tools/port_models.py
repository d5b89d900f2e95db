"""parity on two Hugging Face pairs it was not built for: BertModel / FlaxBertModel and OPTForCausalLM /
FlaxOPTForCausalLM (transformers 4.57.6), small random configs, torch initialising, weights carried by
parity's rules. Writes docs/results/port-models.json, which tools/docs.py renders into docs/port.md.

    python tools/port_models.py            # every case: both models, float32 and float64, the planted bugs

The same cases are the tests (tests/parity/test_port_models.py): a correct port passes in both dtypes with the
user rules below; each planted bug is named at its layer or the one right after it (EXPECTED).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a random init from a config: nothing to download, never try

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "port-models.json"
B, T = 2, 8

BERT_CONFIG = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                   max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
OPT_CONFIG = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
                  max_position_embeddings=16, dropout=0.0, attention_dropout=0.0, word_embed_proj_dim=32,
                  use_cache=False)

# The user rules, one line each: BERT needs none (the default rules pair every tensor); OPT's output layer
# shares the token embedding, which has no Flax twin of its own.
RULE_LINES = {
    "BERT": [],
    "OPT": ['DEFAULT_RULES.extend(tied={"lm_head.weight": "model.decoder.embed_tokens.weight"})'],
}

# planted bug -> (model, what, the layers that count as named: its own, or the one right after it)
PLANTED = {
    "bert-layernorm-epsilon": ("BERT", "LayerNorm epsilon 1e-6 in Flax (BERT's is 1e-12)",
                               ("embeddings.LayerNorm",)),
    "bert-activation": ("BERT", "tanh-approximated GELU in Flax (BERT's is exact)",
                        ("encoder.layer.0.intermediate", "encoder.layer.0.output.dense")),
    "bert-zero-attention-bias": ("BERT", "the value projection's bias zeroed in Flax (layer 0)",
                                 ("encoder.layer.0.attention.self.value",)),
    "bert-untransposed-kernel": ("BERT", "a rule leaving the square attention.output.dense kernel untransposed",
                                 ("encoder.layer.0.attention.output.dense",)),
    "opt-layernorm-epsilon": ("OPT", "LayerNorm epsilon 1e-6 in torch (Flax's OPT fixes 1e-5)",
                              ("model.decoder.layers.0.self_attn_layer_norm",)),
    "opt-activation": ("OPT", "GELU in Flax (OPT's is ReLU)",
                       ("model.decoder.layers.0.activation_fn", "model.decoder.layers.0.fc2")),
    "opt-zero-attention-bias": ("OPT", "v_proj's bias zeroed in Flax (layer 0)",
                                ("model.decoder.layers.0.self_attn.v_proj",)),
    "opt-untransposed-kernel": ("OPT", "a rule leaving the square self_attn.out_proj kernel untransposed",
                                ("model.decoder.layers.0.self_attn.out_proj",)),
}


def rules(model: str):
    from parity import DEFAULT_RULES

    if model == "OPT":
        return DEFAULT_RULES.extend(tied={"lm_head.weight": "model.decoder.embed_tokens.weight"})
    return DEFAULT_RULES


def pair(model: str, dtype: str = "float32", **flax_changes):
    """torch's model initialised by torch (seed 0; Linear biases N(0, 0.02^2)) and the Flax linen module of the
    same config plus changes."""
    import jax.numpy as jnp
    import torch
    from transformers import BertConfig, BertModel, FlaxBertModel, FlaxOPTForCausalLM, OPTConfig, OPTForCausalLM

    torch.manual_seed(0)
    if model == "BERT":
        tmod = BertModel(BertConfig(**BERT_CONFIG)).eval()
        fcls, fcfg = FlaxBertModel, BertConfig(**BERT_CONFIG, **flax_changes)
    else:
        tmod = OPTForCausalLM(OPTConfig(**OPT_CONFIG)).eval()
        fcls, fcfg = FlaxOPTForCausalLM, OPTConfig(**OPT_CONFIG, **flax_changes)
    with torch.no_grad():  # HF's init zeroes every bias: drawn instead, so that a bias lost in a port shows
        for m in tmod.modules():
            if isinstance(m, torch.nn.Linear) and m.bias is not None:
                m.bias.normal_(0.0, 0.02)
    tmod = tmod.double() if dtype == "float64" else tmod
    return tmod, fcls.module_class(config=fcfg, dtype=jnp.dtype(dtype))


def inputs(model: str) -> tuple[np.ndarray, dict]:
    """Token ids and compare's keywords: the Flax modules take the mask and positions as arguments (torch
    makes its own); positions (B, T), so Flax's position table is the batch's while torch's is (1, T, C)."""
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 97, (B, T))  # (B, T)
    flax_kwargs = {"attention_mask": np.ones((B, T), np.int32), "position_ids": np.tile(np.arange(T), (B, 1))}
    kwargs: dict = {"flax_kwargs": flax_kwargs}
    if model == "BERT":
        flax_kwargs["token_type_ids"] = np.zeros((B, T), np.int32)
    else:
        kwargs.update(targets=rng.integers(0, 97, (B, T)), loss="cross_entropy")
    return ids, kwargs


@contextmanager
def torch_layer_norm_eps(module, eps: float):
    """Every torch LayerNorm of module with this epsilon while the block runs."""
    import torch

    norms = [m for m in module.modules() if isinstance(m, torch.nn.LayerNorm)]
    old = [m.eps for m in norms]
    for m in norms:
        m.eps = eps
    try:
        yield
    finally:
        for m, e in zip(norms, old):
            m.eps = e


def report(model: str, dtype: str = "float32", bug: str | None = None):
    """The parity report of one case: the correct port (bug None) or a planted bug (PLANTED)."""
    import jax.numpy as jnp

    from parity import compare, leaf
    from parity.bridge import abstract_params, torch_state, torch_to_flax

    changes = {"bert-layernorm-epsilon": {"layer_norm_eps": 1e-6}, "bert-activation": {"hidden_act": "gelu_new"},
               "opt-activation": {"activation_function": "gelu"}}.get(bug, {})
    tmod, fmod = pair(model, dtype, **changes)
    ids, kwargs = inputs(model)
    r = rules(model)
    if bug in ("bert-untransposed-kernel", "opt-untransposed-kernel"):
        under = r"\.attention\.output\.dense$" if model == "BERT" else r"\.self_attn\.out_proj$"
        r = r.extend(leaf("kernel", "weight", "none", under=under))
    if bug in ("bert-zero-attention-bias", "opt-zero-attention-bias"):
        template = abstract_params(fmod, jnp.asarray(ids), **kwargs["flax_kwargs"])
        params = torch_to_flax(torch_state(tmod), template, r)
        layer = params["encoder"]["layer"]["0"]["attention"]["self"]["value"] if model == "BERT" else \
            params["model"]["decoder"]["layers"]["0"]["self_attn"]["v_proj"]
        layer["bias"] = np.zeros_like(layer["bias"])
        kwargs["variables"] = params
    name = f"{type(tmod).__name__} vs {type(fmod).__name__.removesuffix('Module')} (transformers 4.57.6)"
    with torch_layer_norm_eps(tmod, 1e-6) if bug == "opt-layernorm-epsilon" else _nothing():
        return compare(tmod, fmod, ids, rules=r, dtype=dtype, name=name, **kwargs)


@contextmanager
def _nothing():
    yield


def summary(rep) -> dict:
    """The numbers a table row shows: outputs, gradients, layers matched of total, what passed."""
    grads = [r for r in rep.rows if r.tensor.startswith("grad[")]
    outs = [r for r in rep.rows if not r.tensor.startswith("grad[")]
    judged = [r for r in grads if not (r.within_floor and r.diff > r.bound)]
    compared = [layer for layer in rep.layers if layer.compared]
    return {
        "ok": rep.ok,
        "outputs": {r.tensor: r.diff for r in outs},
        "output_bound": outs[0].bound if outs else None,
        "gradients": len(grads),
        "gradient_max": max((r.diff for r in judged), default=0.0),
        "gradient_relative": bool(grads and grads[0].relative),
        "gradient_bound": grads[0].bound if grads else None,
        "gradient_floor": grads[0].floor if grads else 0.0,
        "floored": sorted(r.tensor for r in grads if r.within_floor and r.diff > r.bound),
        "floored_max_abs": max((r.abs_diff for r in grads if r.within_floor and r.diff > r.bound), default=0.0),
        "layers_compared": len(compared),
        "layers": len(rep.layers),
        "layer_max": max((layer.rel for layer in compared), default=0.0),
        "not_compared": [f"{layer.label}: {layer.note}" for layer in rep.layers if not layer.compared],
        "params": rep.torch_params,
    }


def planted_summary(bug: str, rep) -> dict:
    model, what, expected = PLANTED[bug]
    first = rep.first_divergence
    outs = [r for r in rep.rows if not r.tensor.startswith("grad[")]
    return {
        "bug": bug, "model": model, "what": what, "expected": list(expected), "ok": rep.ok,
        "named": None if first is None else first.label, "index": None if first is None else first.index,
        "kind": None if first is None else first.kind,
        "where": None if first is None else ("inside it" if first.input_ok else "before it (its input differs)"),
        "outputs_ok": all(r.ok for r in outs), "output_max": max((r.diff for r in outs), default=0.0),
        "causes": list(rep.causes),
    }


def run() -> dict:
    import flax
    import jax
    import torch
    import transformers

    out = {"created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "versions": {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
                        "jax": jax.__version__, "flax": flax.__version__},
           "shape": [B, T], "configs": {"BERT": BERT_CONFIG, "OPT": OPT_CONFIG}, "rules": RULE_LINES,
           "models": {}, "planted": []}
    for model in ("BERT", "OPT"):
        out["models"][model] = {dtype: summary(report(model, dtype)) for dtype in ("float32", "float64")}
        print(f"{model}: " + ", ".join(f"{d} {'pass' if s['ok'] else 'FAIL'}" for d, s in out["models"][model].items()),
              flush=True)
    for bug in PLANTED:
        s = planted_summary(bug, report(PLANTED[bug][0], "float32", bug))
        out["planted"].append(s)
        print(f"{bug}: named {s['named']} ({'as expected' if s['named'] in s['expected'] else 'NOT EXPECTED'})",
              flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python tools/port_models.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(OUT), help=f"the results file (default {OUT.relative_to(ROOT)})")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    result = run()
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    bad = [m for m, runs in result["models"].items() for s in runs.values() if not s["ok"]]
    bad += [p["bug"] for p in result["planted"] if p["named"] not in p["expected"] or p["ok"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

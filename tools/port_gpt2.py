"""docs/port.md's GPT-2 figures, recorded: transformers' GPT2LMHeadModel against FlaxGPT2LMHeadModel's linen
module, the cases of tests/parity/test_port_gpt2.py (its rules, config, inputs and planted differences), each
compared by parity.compare; writes docs/results/port-gpt2.json, which tools/docs.py renders (port-gpt2 blocks).

    python tools/port_gpt2.py --out docs/results/port-gpt2.json
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout, when run as a script

PLANTED = {  # id -> (what, the keywords of the test's check(): a Flax config change or rules)
    "layernorm-epsilon": ("LayerNorm epsilon 1e-6 (Flax's default) for GPT-2's 1e-5", {"layer_norm_epsilon": 1e-6}),
    "untransposed-kernel": ("a rule leaving the square `attn.c_proj` kernel (32, 32) untransposed: shapes fit",
                            "rules"),
    "gelu": ("exact GELU for GPT-2's tanh approximation (`gelu_new`)", {"activation_function": "gelu"}),
}


def cases():
    """tests/parity/test_port_gpt2.py, loaded by path: the cases live with their tests."""
    spec = importlib.util.spec_from_file_location("learngpt_port_gpt2", ROOT / "tests" / "parity" / "test_port_gpt2.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def summary(report) -> dict:
    """The figures docs/port.md shows of one report."""
    outs = {r.tensor: r.diff for r in report.rows if not r.tensor.startswith("grad[")}
    grads = [r for r in report.rows if r.tensor.startswith("grad[")]
    worst = max(grads, key=lambda r: r.diff)
    compared = [layer for layer in report.layers if layer.compared]
    out = {"ok": report.ok, "outputs": outs, "outputs_ok": all(r.ok for r in report.rows if r.tensor in outs),
           "gradient_max": worst.diff, "gradient_key": worst.tensor[5:-1], "gradient_relative": worst.relative,
           "gradients": len(grads), "gradients_ok": all(r.ok for r in grads),
           "layer_max": max(layer.rel for layer in compared), "layers_compared": len(compared),
           "layers": len(report.layers), "params": report.torch_params, "flax_params": report.flax_params,
           "not_compared": [layer.name for layer in report.layers if not layer.compared], "report": str(report)}
    first = report.first_divergence
    if first is not None:
        out["first"] = {"index": first.index, "name": first.name, "kind": first.kind, "rel": first.rel,
                        "input_rel": first.input_rel, "input_ok": first.input_ok, "verdict": report.verdict()}
    return out


def measure() -> dict:
    import jax
    import torch
    import transformers

    gpt2 = cases()
    runs = {dtype: summary(gpt2.check(dtype)) for dtype in ("float32", "float64")}
    planted = {}
    for key, (what, change) in PLANTED.items():
        if change == "rules":
            rules = gpt2.GPT2_RULES.extend(gpt2.leaf("kernel", "weight", "none", under=r"\.attn\.c_proj$"))
            report = gpt2.check(rules=rules)
        else:
            report = gpt2.check(**change)
        planted[key] = {"what": what, **summary(report)}
    from learngpt_lab import stats
    return {"what": "GPT-2 (transformers) torch against Flax linen by parity.compare (tests/parity/test_port_gpt2.py)",
            "shape": [gpt2.B, gpt2.T], "config": gpt2.CONFIG, "runs": runs, "planted": planted,
            "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                         "jax": jax.__version__, **{k: v for k, v in stats.machine()["versions"].items()
                                                   if k == "flax"}},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python tools/port_gpt2.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the JSON file to write (docs/results/port-gpt2.json)")
    args = p.parse_args(argv)
    from learngpt_lab.threads import set_threads
    set_threads(1)  # before JAX starts: float32 roundoff depends on the summation order
    from learngpt_lab import files
    files.write_text(Path(args.out), json.dumps(measure(), indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

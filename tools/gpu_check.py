"""Parity on one device, both frameworks on it: every component built in torch and carried to Flax by the
bridge (learngpt_lab.parity_table.component_report), compared in float32 and float64 with the parity bounds, torch and
JAX both on the GPU with TF32 off (`--device cpu` runs the same code on the CPU, as the unit tests do).

    python tools/gpu_check.py --device gpu --out gpu-out/gpu-parity.json

On the GPU, torch's default device is CUDA for the whole check (torch.set_default_device: the torch module and
every tensor the comparison makes live there) and JAX's default device is the GPU; TF32 is off in both, as in
`learngpt bench --device gpu` (runners.setup_device). Exit status 1 when a bound is broken.
"""
from __future__ import annotations

import argparse
import sys
import time


def run_check(device: str, names: list[str] | None = None, dtypes: tuple[str, ...] | None = None,
              each=None) -> dict:
    """Every component in every dtype; each(result so far) after each row, when given (a run stopped from
    outside keeps the rows it finished)."""
    from learngpt_lab.bench.runners import describe_machine, setup_device
    dev = setup_device(device)  # raises the one-line UserError when a framework sees no GPU; TF32 off
    import torch

    from learngpt import components
    from learngpt_lab.parity_table import DTYPES, GRAD_BOUND, GRAD_RELATIVE, OUTPUT_BOUND, component_report

    names = list(components.REGISTRY) if names is None else names
    dtypes = DTYPES if dtypes is None else dtypes
    before = torch.get_default_device()
    machine = describe_machine(dev)

    def result(complete: bool) -> dict:
        return {"schema": "learngpt-gpu-parity/1", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "device": device, "machine": machine,
                "torch_tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32,
                               "cudnn": torch.backends.cudnn.allow_tf32},
                "bounds": {d: {"output": OUTPUT_BOUND[d], "gradient": GRAD_BOUND[d], "relative": GRAD_RELATIVE[d]}
                           for d in dtypes},
                "rows": rows, "complete": complete, "ok": complete and all(r["ok"] for r in rows)}
    torch.set_default_device(dev.torch_device)
    rows = []
    try:
        for name in names:
            for dtype in dtypes:
                report = component_report(name, dtype=dtype, seed=0)
                outputs = [r for r in report.rows if not r.tensor.startswith("grad[")]
                grads = [r for r in report.rows if r.tensor.startswith("grad[")]
                rows.append({"component": name, "dtype": dtype, "ok": bool(report.ok),
                             "output_max_diff": max((r.diff for r in outputs), default=0.0),
                             "grad_max_diff": max((r.diff for r in grads), default=0.0),
                             "failures": list(report.failures())})
                if each is not None:
                    each(result(False))
    finally:
        torch.set_default_device(before)
    return result(True)


def format_rows(result: dict) -> str:
    lines = [f"parity on {result['device']}, torch and JAX both there, TF32 off: max |torch - flax|"]
    width = max([len(r["component"]) for r in result["rows"]] + [9])
    lines.append(f"{'component':<{width}}  dtype    {'output':>9}  {'gradient':>9}  result")
    for r in result["rows"]:
        lines.append(f"{r['component']:<{width}}  {r['dtype']:<7}  {r['output_max_diff']:9.2e}  "
                     f"{r['grad_max_diff']:9.2e}  {'pass' if r['ok'] else 'FAIL'}")
        lines += [f"  {f}" for f in r["failures"]]
    passed = sum(r["ok"] for r in result["rows"])
    lines.append(f"{passed}/{len(result['rows'])} pass")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from learngpt.errors import UserError
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "gpu"), default="gpu")
    parser.add_argument("--out", default=None, help="write the result as JSON here")
    parser.add_argument("--component", action="append", help="only this component (repeatable)")
    args = parser.parse_args(argv)
    from learngpt_lab.bench.report import write_json
    try:
        result = run_check(args.device, args.component,
                           each=(lambda partial: write_json(partial, args.out)) if args.out else None)
    except UserError as err:
        print(f"gpu_check: error: {err}", file=sys.stderr)
        return 2
    print(format_rows(result))
    if args.out:
        write_json(result, args.out)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

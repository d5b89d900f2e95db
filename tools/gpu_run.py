"""The GPU run, one command within the lent machine's ten minutes: parity on the GPU, then the fairness matrix.

    python tools/gpu_run.py --out gpu-out            # what tools/gpu.sh runs after its checks
    python tools/gpu_run.py --dry-run                # the plan and its time, no GPU needed
    python tools/gpu_run.py --check-env              # the python's packages and devices, one line if short

The plan (plan()) gives every part its seconds; each part runs in a process of its own and is stopped at its
cap plus a grace, and what it wrote by then is kept:
1. parity, torch and JAX both on the GPU, TF32 off (NVIDIA_TF32_OVERRIDE=0 as well): every component in float32
   and float64 against the parity bounds (tools/gpu_check.py -> gpu-parity.json) beside the training trajectory
   in float64 and float32, torch, linen and NNX (tools/gpu_trajectory.py -> gpu-trajectory.json);
2. the matrix (tools/gpu_bench.py -> gpu-bench.json): the matmul peak, then each rung in its seconds.
gpu-run.json says what ran, how long each part took against its cap, and how each ended.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
sys.path += [] if str(ROOT) in sys.path else [str(ROOT)]  # the checkout, when run as a script

from tools import gpu_bench  # noqa: E402  (imports neither torch nor JAX)

COMMAND_LIMIT = 600  # seconds: the lent machine's limit on one command
PLAN_LIMIT = 480  # the plan must fit this: two minutes of the limit kept for starts, stops and what is unplanned
SETUP = 20  # tools/gpu.sh's checks (torch and JAX imported, devices listed) and the install without dependencies
PARITY = 70  # the components' parity and the trajectories, side by side
MATRIX_START = 10  # the matrix's process: torch, JAX and CUDA started
PEAK = 15  # 2 frameworks x 3 precisions of an 8192^2 matmul, compiled and repeated for 0.6 s
ROUNDS = {"gpu": 25}  # seconds of paired rounds per rung after its warm-ups (the others: ROUNDS_DEFAULT)
ROUNDS_DEFAULT = 8
PRECISIONS = {"gpu": gpu_bench.PRECISIONS}  # the rungs measured in every precision; the others in fp32 only
GRACE = 20  # a part's process is stopped this long after its cap
PACKAGES = ("numpy", "torch", "jax", "flax", "optax", "safetensors", "tqdm", "matplotlib")


def gflop(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.2g}"


def rung_seconds(name: str, precisions: tuple[str, ...]) -> float:
    warm = sum(gpu_bench.WARMUP_ESTIMATE[m] for m, _ in gpu_bench.arms_of(precisions))
    return warm + ROUNDS.get(name, ROUNDS_DEFAULT)


def plan() -> dict:
    """Every part with its seconds, the rungs with their arms, the parity cases; total against PLAN_LIMIT."""
    from learngpt import components
    from learngpt_lab.bench.plan import Size
    from parity.check import DTYPES
    from tools import trajectory
    matrix = []
    for name in gpu_bench.ORDER:
        precisions = PRECISIONS.get(name, ("fp32",))
        dims, dropout = gpu_bench.RUNGS[name]
        matrix.append({"rung": name, "size": list(dims), "dropout": dropout,
                       "gflop_per_step": Size(*dims).train_gflops(), "precisions": list(precisions),
                       "arms": [gpu_bench.arm_name(m, p) for m, p in gpu_bench.arms_of(precisions)],
                       "segment_steps": gpu_bench.SEGMENT[name], "rounds": [gpu_bench.MIN_ROUNDS, gpu_bench.MAX_ROUNDS],
                       "rounds_seconds": ROUNDS.get(name, ROUNDS_DEFAULT),
                       "seconds": rung_seconds(name, precisions)})
    cases = [(c, d) for c in components.REGISTRY for d in DTYPES]
    runs = [("float64", trajectory.STEPS, 1), ("float32", trajectory.STEPS, 1)]  # gpu_trajectory's default seeds
    parts = [{"part": "setup", "seconds": SETUP,
              "what": "the python's packages and GPU checked (torch with CUDA, JAX with a gpu device, flax, optax, "
                      "safetensors), the project installed without dependencies"},
             {"part": "parity", "seconds": PARITY, "what": f"{len(cases)} cases: {len(components.REGISTRY)} "
              f"components x {', '.join(DTYPES)}, torch and JAX on the GPU, TF32 off (tools/gpu_check.py)"},
             {"part": "trajectory", "seconds": PARITY, "beside": "parity",
              "what": "; ".join(f"{d} {steps} AdamW steps on {n} seed{'s' if n > 1 else ''}" for d, steps, n in runs)
              + ", torch against linen and NNX on the GPU (tools/gpu_trajectory.py; bounds 1e-9 / 1e-4)"},
             {"part": "matrix start and peak", "seconds": MATRIX_START + PEAK,
              "what": f"matmul {gpu_bench.PEAK_SIZE['gpu']}^2 in {', '.join(gpu_bench.PRECISIONS)}, torch and JAX"}]
    parts += [{"part": f"matrix {r['rung']}", "seconds": r["seconds"],
               "what": f"B{r['size'][0]} T{r['size'][1]} C{r['size'][2]} L{r['size'][3]} H{r['size'][4]} "
                       f"({gflop(r['gflop_per_step'])} GFLOP a step): {len(r['arms'])} arms "
                       f"({len(gpu_bench.MODES)} modes x {', '.join(r['precisions'])}), segments of "
                       f"{r['segment_steps']} steps, {r['rounds'][0]}..{r['rounds'][1]} rounds in "
                       f"{r['rounds_seconds']} s"} for r in matrix]
    total = sum(p["seconds"] for p in parts if "beside" not in p)
    return {"parts": parts, "matrix": matrix, "parity_cases": len(cases), "total_seconds": total,
            "limit_seconds": PLAN_LIMIT, "command_limit_seconds": COMMAND_LIMIT, "modes": list(gpu_bench.MODES),
            "precisions": gpu_bench.PRECISION_TEXT, "warmup_estimates": gpu_bench.WARMUP_ESTIMATE,
            "warmup_cap_factor": gpu_bench.WARMUP_CAP}


def format_plan(p: dict) -> str:
    lines = [f"GPU run plan: {p['total_seconds']:.0f} s planned (limit {p['limit_seconds']} s; the lent machine "
             f"stops a command at {p['command_limit_seconds']} s); every part stops at its seconds + {GRACE} s",
             f"{'part':<22} {'seconds':>7}  what"]
    for part in p["parts"]:
        beside = f"(beside {part['beside']}) " if "beside" in part else ""
        lines.append(f"{part['part']:<22} {part['seconds']:>7.0f}  {beside}{part['what']}")
    lines.append(f"{'total':<22} {p['total_seconds']:>7.0f}")
    lines.append("modes: " + "; ".join(p["modes"]))
    lines += [f"{k}: {v}" for k, v in p["precisions"].items()]
    arms = sum(len(r["arms"]) for r in p["matrix"])
    lines.append(f"matrix: {len(p['matrix'])} rungs, {arms} arms; warm-ups planned at "
                 + ", ".join(f"{m} {s:g} s" for m, s in p["warmup_estimates"].items())
                 + f" (an arm is stopped at {p['warmup_cap_factor']:g}x, skipped when its rung has no time left)")
    return "\n".join(lines)


def missing_packages() -> list[str]:
    """What this python lacks of the project's needs: each package at pyproject.toml's version, torch with
    CUDA, JAX with a gpu device; [] when nothing."""
    from importlib import metadata
    try:
        import tomllib
        wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    except Exception:  # python 3.10 (no tomllib): the names alone
        wanted = list(PACKAGES)
    try:
        from packaging.requirements import Requirement
    except ImportError:
        Requirement = None
    out = []
    for spec in wanted:
        name = Requirement(spec).name if Requirement else spec.split(">")[0].split("=")[0].split("<")[0].strip()
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
            continue
        if Requirement and not Requirement(spec).specifier.contains(version, prereleases=True):
            out.append(f"{name} {version} (needs {Requirement(spec).specifier})")
    if not any(m.startswith("torch ") or m.startswith("torch (") for m in out):
        try:
            import torch
            if not torch.cuda.is_available():
                out.append(f"torch {torch.__version__} sees no CUDA GPU (a CPU build, or no driver)")
        except Exception as err:
            out.append(f"torch does not import ({type(err).__name__}: {str(err).splitlines()[0][:80]})")
    if not any(m.startswith("jax ") or m.startswith("jax (") for m in out):
        try:
            import jax
            try:
                jax.devices("gpu")
            except RuntimeError:
                out.append(f"jax {jax.__version__} sees no gpu device (no CUDA plugin: jax[cuda12] or "
                           f"jax-cuda13-plugin)")
        except Exception as err:
            out.append(f"jax does not import ({type(err).__name__}: {str(err).splitlines()[0][:80]})")
    try:
        from learngpt.data import find_corpus
        find_corpus(None, download=False)
    except Exception as err:
        out.append(f"the corpus ({str(err).splitlines()[0][:160]})")
    return out


def check_env() -> int:
    missing = missing_packages()
    if missing:
        print(f"gpu_run: error: {sys.executable} lacks: {'; '.join(missing)}", file=sys.stderr)
        return 2
    from importlib import metadata
    print(f"gpu_run: {sys.executable}: " + ", ".join(f"{n} {metadata.version(n)}" for n in PACKAGES[1:6]))
    return 0


def run_part(name: str, cmd: list[str], log: Path, env: dict, seconds: float, deadline: float) -> subprocess.Popen:
    print(f"== {name} (at most {seconds:.0f} s): {' '.join(cmd)}", flush=True)
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    proc.part = {"part": name, "cap_seconds": seconds, "started": time.perf_counter(),
                 "stop_at": min(time.perf_counter() + seconds + GRACE, deadline), "log": log.name}
    return proc


def wait_part(proc: subprocess.Popen) -> dict:
    """Wait for a part until its stop time; stop its whole process group then. Its record."""
    info = proc.part
    try:
        rc = proc.wait(timeout=max(0.0, info["stop_at"] - time.perf_counter()))
        info["status"] = "done" if rc == 0 else ("failed" if rc == 1 else f"exit {rc}")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            rc = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
        info["status"] = "stopped at its cap"
    try:  # what the part left behind (compile workers, a child's child): gone before the next part starts
        if proc.pid > 0:  # its own session's group (start_new_session), never this one's
            os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    info["returncode"] = rc
    info["seconds"] = time.perf_counter() - info.pop("started")
    info.pop("stop_at")
    print(f"   {info['part']}: {info['status']} in {info['seconds']:.0f} s (cap {info['cap_seconds']:.0f} s)",
          flush=True)
    return info


def run(out: Path, device: str, started: float) -> int:
    p = plan()
    out.mkdir(parents=True, exist_ok=True)
    deadline = started + COMMAND_LIMIT - 25  # whatever happens, every file is written before the limit
    py = sys.executable
    base = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1"}
    base.pop("NVIDIA_TF32_OVERRIDE", None)  # the matrix turns TF32 on and off itself
    strict = {**base, "NVIDIA_TF32_OVERRIDE": "0", "JAX_DEFAULT_MATMUL_PRECISION": "highest",
              "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # two JAX processes side by side
    parts = []
    parity = run_part("parity", [py, str(TOOLS / "gpu_check.py"), "--device", device, "--out",
                                 str(out / "gpu-parity.json")], out / "gpu-parity.txt", strict, PARITY, deadline)
    traj = run_part("trajectory", [py, str(TOOLS / "gpu_trajectory.py"), "--device", device, "--out",
                                   str(out / "gpu-trajectory.json")], out / "gpu-trajectory.txt", strict, PARITY,
                    deadline)
    parts += [wait_part(parity), wait_part(traj)]
    spare = max(0.0, PARITY - max(x["seconds"] for x in parts))  # what parity left goes to the first rung
    matrix_seconds = MATRIX_START + PEAK + sum(r["seconds"] for r in p["matrix"]) + spare
    rungs = ",".join(f"{r['rung']}:{r['seconds'] + (spare if i == 0 else 0):.0f}:{'+'.join(r['precisions'])}"
                     for i, r in enumerate(p["matrix"]))
    env = {**base, "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.4"}  # JAX's share of the GPU; torch takes from the rest
    raw = out / "gpu-bench.raw.json"
    bench = run_part("matrix", [py, str(TOOLS / "gpu_bench.py"), "--device", device, "--out",
                                str(out / "gpu-bench.json"), "--rungs", rungs, "--deadline",
                                f"{time.time() + min(matrix_seconds, deadline - time.perf_counter()):.0f}"],
                     out / "gpu-bench.txt", env,
                     matrix_seconds, deadline)
    parts.append(wait_part(bench))
    if raw.is_file():
        result = gpu_bench.summarise(json.loads(raw.read_text()))
        result["run"] = {"stopped": parts[-1]["status"] != "done"}
        (out / "gpu-bench.json").write_text(json.dumps(result, indent=1) + "\n")
    record = {"schema": "learngpt-gpu-run/1", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "device": device,
              "python": py, "plan": p, "parts": parts, "wall_seconds": time.perf_counter() - started}
    (out / "gpu-run.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"gpu_run: {record['wall_seconds']:.0f} s; results in {out}/ (gpu-bench.json, gpu-parity.json, "
          f"gpu-trajectory.json, gpu-run.json); record them with python tools/gpu_record.py {out}")
    return 0 if all(x["status"] == "done" for x in parts) else 1


def main(argv=None) -> int:
    started = time.perf_counter()
    ap = argparse.ArgumentParser(prog="python tools/gpu_run.py", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gpu-out", help="the folder of the result files (default gpu-out)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and its time; run nothing")
    ap.add_argument("--check-env", action="store_true", help="check this python's packages and GPU, then stop")
    ap.add_argument("--device", choices=("gpu", "cpu"), default="gpu", help=argparse.SUPPRESS)
    ap.add_argument("--started-at", type=float, default=None,
                    help="when the command began (seconds since the epoch; tools/gpu.sh's start): the deadline's base")
    args = ap.parse_args(argv)
    if args.started_at is not None:
        started -= max(0.0, time.time() - args.started_at)
    if args.dry_run:
        print(format_plan(plan()))
        return 0
    if args.check_env:
        return check_env()
    return run(Path(args.out), args.device, started)


if __name__ == "__main__":
    sys.exit(main())

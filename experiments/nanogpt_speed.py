"""What the torch reference still pays for its teaching form: training steps/s at the laptop preset (nanoGPT's CPU
recipe: 4 layers, 4 heads, 128 wide, context 64, batch 12, dropout 0) on 2 threads, beside nanoGPT's own model and
training step, before (90c941b, the state issue 38 was filed against) and now, attributed by a profile.

The arms, each a warm worker process of its own (this script with --worker), --threads intra-op threads each
(default 2, the issue's):

    nanoGPT train.py       nanoGPT's model.py GPT with its train.py laptop recipe (README, "I only have a macbook":
                           --device=cpu --compile=False --block_size=64 --batch_size=12 --n_layer=4 --n_head=4
                           --n_embd=128 --dropout=0.0, config/train_shakespeare_char.py, bias=False) and train.py's
                           loop body on CPU: the learning rate set per step (cosine, warm-up 100, decay to 2000),
                           forward, get_batch (a np.memmap of train.bin made anew per batch, torch.randint starts),
                           backward, clip_grad_norm_(1.0), AdamW from model.configure_optimizers (weight decay
                           0.1 on the 2-D tensors, betas (0.9, 0.99), not fused), zero_grad(set_to_none=True),
                           loss.item() (log_interval=1); float32, no torch.compile, no autocast (CPU)
    nanoGPT bias=True      the same with bias=True, nanoGPT's nearest to learngpt's biased layers
    learngpt torch 90c941b learngpt_torch.trainer.train of the curriculum's NanoGPT (GPTVer4, 4 x BlockVer4 of
                           MultiHeadVer2) from the tree given as --before (`git worktree add /tmp/lg-before
                           90c941b`), on that tree's PYTHONPATH: what `learngpt train --preset laptop` ran then
    learngpt torch HEAD    the same from this checkout
    ... avx2               the same under ATEN_CPU_CAPABILITY=avx2 (torch's AVX2 kernels, not AVX-512)
    learngpt Flax HEAD     what `learngpt train --backend flax --preset laptop` runs: learngpt_flax.fast.train
                           (jax.jit of lax.scan over the step), XLA's multi-threaded Eigen on above 1 thread

A round runs every arm for --steps training steps (in learngpt's trainers: one train() call of that many steps
with one evaluation batch each side, its train_seconds, evaluation and compiling excluded), the arms in a rotating
order (learngpt_lab.stats.rotation); each worker warms up (and the Flax arm compiles its programs) before the first
round, timed apart. An arm's figure is its median steps/s over rounds; its ratio to nanoGPT is the median of the
per-round ratios (paired: the same round) with a distribution-free 95 % interval (learngpt_lab.stats.
median_interval). The load average is read before every round and each worker's run-queue wait over its timed
steps is kept. Then torch.profiler profiles --profile-steps steps of nanoGPT and of learngpt's torch reference
(HEAD, default and avx2): per-op self time per step, and the ops' differences; cProfile gives the
reference's Python (forward side) by function.

    git worktree add --detach /tmp/lg-before 90c941b
    git clone https://github.com/karpathy/nanoGPT /tmp/nanoGPT
    python experiments/nanogpt_speed.py --nanogpt /tmp/nanoGPT --before /tmp/lg-before \\
        --out docs/results/nanogpt-speed.json
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import math
import os
import subprocess
import sys
import time

THREADS = 2  # the issue's: `learngpt train --threads 2`
NANOGPT_RECIPE = {  # train.py defaults + config/train_shakespeare_char.py + the README's macbook flags
    "n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "batch_size": 12, "dropout": 0.0, "bias": False,
    "learning_rate": 1e-3, "min_lr": 1e-4, "warmup_iters": 100, "lr_decay_iters": 2000, "weight_decay": 0.1,
    "beta1": 0.9, "beta2": 0.99, "grad_clip": 1.0, "gradient_accumulation_steps": 1, "seed": 1337,
}
REFERENCE = "nanoGPT train.py"
PROFILED = ("nanoGPT train.py", "learngpt torch HEAD", "learngpt torch HEAD avx2")


def run_delay_seconds() -> float:
    """Seconds this process's threads waited runnable for a CPU (Linux schedstat); 0.0 where unreadable."""
    total = 0
    for path in glob.glob("/proc/self/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


# ---------------------------------------------------------------------------------------------------- workers

class NanoGPTArm:
    """nanoGPT's model.py and train.py's loop body (the module docstring), on the learngpt corpus's encoding
    (the same 65 sorted characters, the same 90 % train split that nanoGPT's prepare.py writes)."""

    def __init__(self, spec: dict):
        import importlib.util
        import tempfile

        import numpy as np
        import torch
        from learngpt.data import load_corpus
        self.np, self.torch = np, torch
        r = {**NANOGPT_RECIPE, **spec.get("override", {})}
        self.r = r
        loaded = importlib.util.spec_from_file_location("nanogpt_model", os.path.join(spec["nanogpt"], "model.py"))
        model_py = importlib.util.module_from_spec(loaded)
        loaded.loader.exec_module(model_py)
        corpus = load_corpus()
        self.dir = tempfile.mkdtemp(prefix="nanogpt-speed-")
        self.train_bin = os.path.join(self.dir, "train.bin")
        np.asarray(corpus.train, dtype=np.uint16).tofile(self.train_bin)
        torch.manual_seed(r["seed"])
        conf = model_py.GPTConfig(n_layer=r["n_layer"], n_head=r["n_head"], n_embd=r["n_embd"],
                                  block_size=r["block_size"], bias=r["bias"], vocab_size=corpus.tokenizer.vocab_size,
                                  dropout=r["dropout"])
        self.model = model_py.GPT(conf).to("cpu")
        self.optimizer = self.model.configure_optimizers(r["weight_decay"], r["learning_rate"],
                                                         (r["beta1"], r["beta2"]), "cpu")
        self.model.train()
        self.iter_num = 0
        self.X, self.Y = self.get_batch()
        self.info = {"vocab_size": corpus.tokenizer.vocab_size, "recipe": r,
                     "params": sum(p.numel() for p in self.model.parameters()),
                     "flash_sdpa": bool(self.model.transformer.h[0].attn.flash)}

    def get_batch(self):
        np, torch, r = self.np, self.torch, self.r
        data = np.memmap(self.train_bin, dtype=np.uint16, mode="r")  # anew per batch, as train.py
        ix = torch.randint(len(data) - r["block_size"], (r["batch_size"],))
        x = torch.stack([torch.from_numpy((data[i:i + r["block_size"]]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1:i + 1 + r["block_size"]]).astype(np.int64)) for i in ix])
        return x.to("cpu"), y.to("cpu")

    def get_lr(self, it: int) -> float:
        r = self.r
        if it < r["warmup_iters"]:
            return r["learning_rate"] * (it + 1) / (r["warmup_iters"] + 1)
        if it > r["lr_decay_iters"]:
            return r["min_lr"]
        ratio = (it - r["warmup_iters"]) / (r["lr_decay_iters"] - r["warmup_iters"])
        return r["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (r["learning_rate"] - r["min_lr"])

    def steps(self, n: int) -> tuple[float, float]:
        """n iterations of train.py's loop body; (seconds, last loss)."""
        torch, model, optimizer, r = self.torch, self.model, self.optimizer, self.r
        t0 = time.perf_counter()
        for _ in range(n):
            lr = self.get_lr(self.iter_num)
            for group in optimizer.param_groups:
                group["lr"] = lr
            for _micro in range(r["gradient_accumulation_steps"]):
                _, loss = model(self.X, self.Y)
                loss = loss / r["gradient_accumulation_steps"]
                self.X, self.Y = self.get_batch()
                loss.backward()
            if r["grad_clip"] != 0.0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), r["grad_clip"])
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            lossf = loss.item() * r["gradient_accumulation_steps"]
            self.iter_num += 1
        return time.perf_counter() - t0, lossf

    def one_step(self) -> None:
        self.steps(1)


class TorchArm:
    """learngpt_torch.trainer.train of the curriculum's NanoGPT at the laptop preset, from whichever tree is on
    PYTHONPATH; each call trains n steps from the weights the last call left (a fresh AdamW per call, as a train()
    call makes one)."""

    def __init__(self, spec: dict):
        import torch

        import learngpt_torch
        from learngpt.components import NANOGPT
        from learngpt.config import Config
        from learngpt.data import BatchSampler, load_corpus
        from learngpt.training import eval_data
        from learngpt_torch import trainer
        self.torch, self.trainer = torch, trainer
        corpus = load_corpus()
        self.cfg = Config(**{**spec["config"], "vocab_size": corpus.tokenizer.vocab_size, "eval_iters": 1})
        torch.manual_seed(self.cfg.seed)
        self.model = NANOGPT.recipe(self.cfg)(learngpt_torch).to(device="cpu", dtype=torch.float32)
        self.sampler = BatchSampler(corpus, self.cfg.batch_size, self.cfg.block_size, self.cfg.seed)
        self.evals = eval_data(self.sampler, self.cfg)
        self.info = {"learngpt_torch": learngpt_torch.__file__, "config": self.cfg.to_dict(),
                     "params": sum(p.numel() for p in self.model.parameters()),
                     "model": NANOGPT.describe(self.cfg) if hasattr(NANOGPT, "describe") else "NanoGPT"}

    def steps(self, n: int) -> tuple[float, float]:
        history = self.trainer.train(self.model, self.cfg, self.sampler, self.evals, max_iters=n, eval_interval=n)
        return history.train_seconds, float(history.step_losses[-1])

    def one_step(self) -> None:
        """One pass of trainer.train's chunk loop body as this tree writes it (host id check and ids_checked where
        the tree has them), its AdamW made once; what the profile runs."""
        from learngpt import checks
        if not hasattr(self, "_step"):
            from learngpt_torch.optim import make_optimizer
            self._step = self.trainer.make_step(self.model, make_optimizer(self.model, self.cfg))
            self.model.train()
        xb, yb = self.sampler.sample("train")
        if hasattr(checks, "ids_checked"):  # HEAD: ids checked on the host, the forward reads none back
            with checks.ids_checked():
                checks.check_host_ids(self.model.vocab_size, xb, yb)
                self._step(self.torch.as_tensor(xb), self.torch.as_tensor(yb)).item()
        else:  # 90c941b: the forward reads the ids back (idx.min(), idx.max())
            self._step(self.torch.as_tensor(xb), self.torch.as_tensor(yb)).item()


class FlaxArm:
    """What `learngpt train --backend flax` runs (the flax adapter's train: learngpt_flax.fast.train)."""

    def __init__(self, spec: dict):
        import numpy as np

        from learngpt.components import NANOGPT
        from learngpt.config import Config
        from learngpt.data import BatchSampler, load_corpus
        from learngpt.training import eval_data
        from learngpt_lab import backends
        corpus = load_corpus()
        self.cfg = Config(**{**spec["config"], "vocab_size": corpus.tokenizer.vocab_size, "eval_iters": 1})
        self.backend = backends.get("flax")
        self.model = self.backend.create(NANOGPT.recipe(self.cfg), example=np.zeros((1, self.cfg.block_size), np.int64),
                                         seed=self.cfg.seed)
        self.sampler = BatchSampler(corpus, self.cfg.batch_size, self.cfg.block_size, self.cfg.seed)
        self.evals = eval_data(self.sampler, self.cfg)
        self.info = {"config": self.cfg.to_dict(), "trainer": "learngpt_lab.backends flax adapter train "
                     "(learngpt_flax.fast.train)", "XLA_FLAGS": os.environ.get("XLA_FLAGS")}
        self.compile_s = 0.0

    def steps(self, n: int) -> tuple[float, float]:
        history = self.backend.train(self.model, self.cfg, self.sampler, self.evals, max_iters=n, eval_interval=n)
        self.compile_s += history.compile_seconds
        return history.train_seconds, float(history.step_losses[-1])


def profile_arm(arm, steps: int, top: int) -> dict:
    """torch.profiler over `steps` single steps (one warm step first): per-op self CPU time per step; and, for
    learngpt's arm, cProfile of the same number of steps: the Python functions by own time."""
    import cProfile
    import pstats

    import torch
    from torch.profiler import ProfilerActivity, profile
    arm.one_step()
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            arm.one_step()
    wall = time.perf_counter() - t0
    ops = {}
    for e in prof.key_averages():
        ops[e.key] = {"calls_per_step": e.count / steps, "self_us_per_step": e.self_cpu_time_total / steps,
                      "self_us_per_call": e.self_cpu_time_total / max(e.count, 1)}
    total_self = sum(o["self_us_per_step"] for o in ops.values())
    result = {"steps": steps, "wall_ms_per_step_profiled": wall / steps * 1e3,
              "ops_self_ms_per_step": total_self / 1e3, "ops": ops,
              "ops_per_step": sum(o["calls_per_step"] for o in ops.values()),
              "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(steps):
        arm.one_step()
    pr.disable()
    stats = pstats.Stats(pr)
    funcs = []
    for (path, line, name), (cc, nc, tt, ct, _) in stats.stats.items():
        short = f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}:{name}"
        funcs.append({"function": short, "calls_per_step": nc / steps, "own_us_per_step": tt / steps * 1e6,
                      "cumulative_us_per_step": ct / steps * 1e6})
    funcs.sort(key=lambda f: -f["own_us_per_step"])
    result["python_top_by_own_time"] = funcs[:top]
    mine = [f for f in funcs if f["function"].split("/")[0] in ("learngpt", "learngpt_torch") or
            f["function"].startswith("tmp/model.py") or "model.py" in f["function"]]
    mine.sort(key=lambda f: -f["cumulative_us_per_step"])
    result["project_functions_by_cumulative"] = mine[:top]
    result["cprofile_total_ms_per_step"] = sum(f["own_us_per_step"] for f in funcs) / 1e3
    return result


def worker(spec: dict) -> int:
    """One arm: set up, warm up, then answer the parent's commands (one JSON line each) on the saved stdout."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # nanoGPT's and the trainers' prints stay off the channel
    if spec["kind"] == "flax":
        from learngpt_lab.threads import set_threads
        set_threads(spec["threads"], torch=False)  # XLA's flag, before jax starts
    else:
        import torch
        torch.set_num_threads(spec["threads"])
    t0 = time.perf_counter()
    arm = {"nanogpt": NanoGPTArm, "torch": TorchArm, "flax": FlaxArm}[spec["kind"]](spec)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    arm.steps(spec["steps"])  # warm-up: one round's worth (the Flax arm compiles its programs here)
    warm_s = time.perf_counter() - t0
    info = dict(arm.info)
    try:
        import torch
        info["torch_threads"] = torch.get_num_threads()
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:
        pass
    channel.write(json.dumps({"ready": True, "setup_s": setup_s, "warmup_s": warm_s,
                              "compile_s": getattr(arm, "compile_s", 0.0), "info": info}) + "\n")
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "steps":
            d0 = run_delay_seconds()
            seconds, loss = arm.steps(int(arg))
            wait = run_delay_seconds() - d0
            channel.write(json.dumps({"seconds": seconds, "loss": loss, "wait_s": wait}) + "\n")
        elif cmd == "profile":
            steps, top = (int(v) for v in arg.split())
            channel.write(json.dumps(profile_arm(arm, steps, top)) + "\n")
        else:
            break
    return 0


# ---------------------------------------------------------------------------------------------------- parent

class Worker:
    def __init__(self, name: str, spec: dict, env: dict):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=spec.get("cwd"))
        self.ready = self.read()

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: the worker ended (rc {self.proc.wait()}); its stderr says why")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        self.proc.wait(timeout=60)


def arm_specs(nanogpt: str, before: str, steps: int, main_root: str, threads: int) -> dict:
    from learngpt.config import PRESETS
    p = PRESETS["laptop"]
    config = {"n_layers": p["n_layers"], "n_heads": p["n_heads"], "embed_size": p["embed_size"],
              "block_size": p["block_size"], "batch_size": p["batch_size"], "dropout": p["dropout"], "seed": 1337}
    base = dict(os.environ)
    base.pop("ATEN_CPU_CAPABILITY", None)
    head = {**base, "PYTHONPATH": main_root}
    old = {**base, "PYTHONPATH": os.path.abspath(before)}
    avx2 = {**head, "ATEN_CPU_CAPABILITY": "avx2"}
    specs = {
        "nanoGPT train.py": ({"kind": "nanogpt", "nanogpt": nanogpt, "steps": steps}, head),
        "nanoGPT bias=True": ({"kind": "nanogpt", "nanogpt": nanogpt, "steps": steps,
                               "override": {"bias": True}}, head),
        "learngpt torch 90c941b": ({"kind": "torch", "config": config, "steps": steps, "cwd": before}, old),
        "learngpt torch HEAD": ({"kind": "torch", "config": config, "steps": steps}, head),
        "learngpt torch HEAD avx2": ({"kind": "torch", "config": config, "steps": steps}, avx2),
        "learngpt Flax 90c941b": ({"kind": "flax", "config": config, "steps": steps, "cwd": before}, old),
        "learngpt Flax HEAD": ({"kind": "flax", "config": config, "steps": steps}, head),
    }
    for spec, _ in specs.values():
        spec["threads"] = threads
    return specs


def git_commit(path: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def op_differences(profiles: dict, a: str, b: str, top: int) -> list[dict]:
    """Per op: b's self time per step minus a's, the largest differences first (either sign)."""
    pa, pb = profiles[a]["ops"], profiles[b]["ops"]
    rows = []
    for op in set(pa) | set(pb):
        ua = pa.get(op, {}).get("self_us_per_step", 0.0)
        ub = pb.get(op, {}).get("self_us_per_step", 0.0)
        rows.append({"op": op, a: ua, b: ub, "difference_us_per_step": ub - ua,
                     "calls_per_step_" + a: pa.get(op, {}).get("calls_per_step", 0.0),
                     "calls_per_step_" + b: pb.get(op, {}).get("calls_per_step", 0.0)})
    rows.sort(key=lambda r: -abs(r["difference_us_per_step"]))
    return rows[:top]


def top_ops(profile: dict, top: int) -> list[dict]:
    rows = [{"op": k, **v} for k, v in profile["ops"].items()]
    rows.sort(key=lambda r: -r["self_us_per_step"])
    return rows[:top]


def run(args, log) -> dict:
    import numpy as np

    from learngpt_lab import stats
    main_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    specs = arm_specs(args.nanogpt, args.before, args.steps, main_root, args.threads)
    commit = git_commit(main_root)  # before the workers import it: what the HEAD arms ran (with `dirty` on top)
    dirty = subprocess.run(["git", "-C", main_root, "status", "--porcelain", "--untracked-files=no", "--",
                            "learngpt", "learngpt_torch", "learngpt_flax", "learngpt_jax", "learngpt_lab"],
                           capture_output=True, text=True).stdout.splitlines()
    started = time.perf_counter()
    workers = {}
    try:
        for name, (spec, env) in specs.items():
            workers[name] = Worker(name, spec, env)
            r = workers[name].ready
            log(f"{name}: set up in {r['setup_s']:.1f} s, warm-up ({args.steps} steps) {r['warmup_s']:.1f} s")
        names = list(workers)
        times = {n: [] for n in names}
        waits = {n: [] for n in names}
        losses = {n: [] for n in names}
        loads = []
        t_rounds = time.perf_counter()
        for r in range(args.rounds):
            spent = time.perf_counter() - t_rounds
            if (r >= args.min_rounds and spent > args.budget_s) or (r >= 3 and spent > 2 * args.budget_s):
                log(f"budget of {args.budget_s} s spent after {r} rounds")
                break
            loads.append(list(os.getloadavg()))
            for i in stats.rotation(len(names), r):
                out = workers[names[i]].ask(f"steps {args.steps}")
                times[names[i]].append(out["seconds"])
                waits[names[i]].append(out["wait_s"] / out["seconds"])
                losses[names[i]].append(out["loss"])
            log(f"round {r + 1}: " + ", ".join(f"{n} {args.steps / times[n][-1]:.1f}" for n in names)
                + f" steps/s (load {loads[-1][0]:.2f})")
        rounds_s = time.perf_counter() - t_rounds
        loads.append(list(os.getloadavg()))
        profiles = {}
        for name in PROFILED:
            profiles[name] = workers[name].ask(f"profile {args.profile_steps} {args.top}")
            log(f"{name}: profiled ({profiles[name]['wall_ms_per_step_profiled']:.1f} ms/step under the profiler)")
    finally:
        for w in workers.values():
            w.close()
    rows = []
    for n in names:
        t = np.asarray(times[n])
        ratio = [float(x) for x in np.asarray(times[REFERENCE]) / t]  # steps/s over nanoGPT's, per round
        lo, hi = stats.median_interval(ratio)
        rows.append({"arm": n, "steps_per_second": args.steps / float(np.median(t)),
                     "steps_per_second_p25": args.steps / float(np.percentile(t, 75)),
                     "steps_per_second_p75": args.steps / float(np.percentile(t, 25)),
                     "ratio_to_nanogpt": float(np.median(ratio)), "ratio_low": lo, "ratio_high": hi,
                     "run_queue_wait_median": float(np.median(waits[n])),
                     "setup_s": workers[n].ready["setup_s"], "warmup_s": workers[n].ready["warmup_s"],
                     "compile_s": workers[n].ready["compile_s"], "info": workers[n].ready["info"],
                     "seconds_per_round": times[n], "last_loss_per_round": losses[n]})
    before_after = [float(x) for x in np.asarray(times["learngpt torch 90c941b"])
                    / np.asarray(times["learngpt torch HEAD"])]
    avx = [float(x) for x in np.asarray(times["learngpt torch HEAD"]) / np.asarray(times["learngpt torch HEAD avx2"])]
    flax_before_after = [float(x) for x in np.asarray(times["learngpt Flax 90c941b"])
                         / np.asarray(times["learngpt Flax HEAD"])]
    lo, hi = stats.median_interval(before_after)
    alo, ahi = stats.median_interval(avx)
    flo, fhi = stats.median_interval(flax_before_after)
    softmax = {n: {op: profiles[n]["ops"].get(op) for op in ("aten::_softmax", "aten::_softmax_backward_data")}
               for n in PROFILED}
    profile_out = {n: {k: v for k, v in p.items() if k != "ops"} | {"top_ops": top_ops(p, args.top)}
                   for n, p in profiles.items()}
    loads_flat = [l[0] for l in loads]
    return {
        "schema": "learngpt-nanogpt-speed/1", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "question": "training steps/s of the torch reference at the laptop preset on 2 threads, before (90c941b) "
                    "and now, beside nanoGPT's own model and train.py step; what the teaching form costs",
        "machine": stats.machine(), "threads": args.threads, "learngpt_commit": commit, "dirty": dirty,
        "before_commit": git_commit(args.before),
        "nanogpt": {"commit": git_commit(args.nanogpt), "model_py_sha256": hashlib.sha256(
            open(os.path.join(args.nanogpt, "model.py"), "rb").read()).hexdigest(), "recipe": NANOGPT_RECIPE},
        "differences": DIFFERENCES, "steps_per_round": args.steps, "rounds": len(times[REFERENCE]),
        "rounds_seconds": rounds_s, "total_seconds": time.perf_counter() - started,
        "load_average_per_round": loads, "load_1min_median": float(np.median(loads_flat)),
        "load_1min_max": float(np.max(loads_flat)), "reference": REFERENCE, "arms": rows,
        "head_over_before": {"median": float(np.median(before_after)), "low": lo, "high": hi,
                             "per_round": before_after},
        "avx2_over_default": {"median": float(np.median(avx)), "low": alo, "high": ahi, "per_round": avx},
        "flax_head_over_before": {"median": float(np.median(flax_before_after)), "low": flo, "high": fhi,
                                  "per_round": flax_before_after},
        "profile_steps": args.profile_steps, "profiles": profile_out,
        "op_differences_head_vs_nanogpt": op_differences(profiles, REFERENCE, "learngpt torch HEAD", args.top),
        "softmax_ops": softmax,
    }


DIFFERENCES = [  # nanoGPT's laptop recipe against learngpt's NanoGPT at the laptop preset: every one kept
    "attention: nanoGPT one c_attn Linear (C, 3C) split in three, F.scaled_dot_product_attention(is_causal=True); "
    "learngpt three bias-free (C, C) Linears, einsum scores, masked_fill, F.softmax, einsum with v",
    "attention scale: nanoGPT head_size ** -0.5, learngpt embed_size ** -0.5 (the curriculum's)",
    "LayerNorm in the blocks: nanoGPT F.layer_norm (biased variance, eps 1e-5 inside the root, no bias at "
    "bias=False); learngpt its own (mean, unbiased std, eps 1e-6 outside the root, gamma and beta); ln_f: "
    "nanoGPT F.layer_norm, learngpt nn.LayerNorm(eps=1e-5) with bias",
    "MLP: nanoGPT GELU (erf), learngpt ReLU; biases: nanoGPT none at bias=False (all at bias=True, c_attn too), "
    "learngpt on proj, both MLP Linears and lm_head, none on key/query/value",
    "lm_head: nanoGPT tied to the token embedding, no bias; learngpt its own weight and a bias",
    "checks: learngpt checks shapes, dtypes and token ids on the host in every forward and each batch's ids "
    "before the step; nanoGPT asserts the length only",
    "dropout: both 0.0; nanoGPT's nn.Dropout(0.0) modules and SDPA dropout_p=0, learngpt's BlockVer4 "
    "nn.Dropout(0.0) modules",
    "step: nanoGPT sets the cosine learning rate per step, clip_grad_norm_(1.0), AdamW in two groups (weight "
    "decay 0.1 on 2-D tensors, betas (0.9, 0.99)), loss.item() per step, batches from np.memmap with "
    "torch.randint; learngpt constant lr 1e-3, no clipping, AdamW one group (weight decay 0.01, betas "
    "(0.9, 0.999)), one synchronisation per train() call, batches from a numpy Generator",
    "initialisation: nanoGPT normal(0.02) with scaled c_proj, learngpt torch's defaults (speed only here)",
]


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--worker":
        return worker(json.loads(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", required=True, help="a nanoGPT checkout (its model.py is loaded from it)")
    parser.add_argument("--before", required=True, help="a learngpt tree at the 'before' commit (git worktree)")
    parser.add_argument("--steps", type=int, default=10, help="training steps per arm per round")
    parser.add_argument("--rounds", type=int, default=20, help="rounds at most")
    parser.add_argument("--min-rounds", type=int, default=6,
                        help="rounds at least, unless twice the budget is spent (then 3 at least)")
    parser.add_argument("--budget-s", type=float, default=480.0, help="no round starts after this many seconds")
    parser.add_argument("--profile-steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=15, help="rows kept per profile table")
    parser.add_argument("--threads", type=int, default=THREADS, help="intra-op threads of every arm")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.nanogpt, "model.py")):
        print(f"--nanogpt {args.nanogpt}: no model.py there; give a nanoGPT checkout "
              f"(git clone https://github.com/karpathy/nanoGPT)", file=sys.stderr)
        return 2
    if not os.path.isfile(os.path.join(args.before, "learngpt_torch", "trainer.py")):
        print(f"--before {args.before}: no learngpt_torch/trainer.py there; give a learngpt tree "
              f"(git worktree add --detach /tmp/lg-before 90c941b)", file=sys.stderr)
        return 2
    for name in ("steps", "rounds", "min_rounds", "profile_steps", "top", "threads"):
        if getattr(args, name) <= 0:
            print(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}",
                  file=sys.stderr)
            return 2
    result = run(args, log=lambda m: print(m, file=sys.stderr, flush=True))
    for r in result["arms"]:
        print(f"{r['arm']:<26} {r['steps_per_second']:6.1f} steps/s  x{r['ratio_to_nanogpt']:.3f} of nanoGPT "
              f"[{r['ratio_low']:.3f}, {r['ratio_high']:.3f}]  warm-up {r['warmup_s']:.1f} s")
    h = result["head_over_before"]
    f = result["flax_head_over_before"]
    print(f"HEAD over 90c941b: torch x{h['median']:.3f} [{h['low']:.3f}, {h['high']:.3f}], Flax x{f['median']:.3f} "
          f"[{f['low']:.3f}, {f['high']:.3f}]; load (1 min) median {result['load_1min_median']:.2f}, max "
          f"{result['load_1min_max']:.2f}")
    if args.out:
        from learngpt_lab.bench.report import write_json
        write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

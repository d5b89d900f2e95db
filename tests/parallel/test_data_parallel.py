"""Past one device: N-way data parallel is the single-device training, in torch (DDP, FSDP2) and in JAX (one
process with N devices, N processes, sharded params; linen and NNX), proven on NanoGPT (GPTVer4 with 2 x
BlockVer4).

Every run starts from the same torch-initialised weights and draws the same global batches (the shared
sampler, one seed). With dropout off, in float64, 50 AdamW steps: every step's loss, every evaluation and
every parameter after the last step agree with the backend's own single-device trainer within 1e-9, and torch
DDP agrees with JAX data parallel within the same bound; in float32 the losses agree within 1e-4. With dropout
on, each rank draws its own masks (torch: a seed per rank; JAX: one key, each device drawing its rows' part),
the same ones again for the same seed. Every test that starts processes is marked slow (pytest -m slow:
N = 2 and N = 4); the default suite keeps the checks that start none.

The parallel runs are started as the command starts them (learngpt_lab/parallel.py: spawned processes), several
jobs per start, since on a 2-core machine starting a process and compiling cost more than the 50 steps.
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from learngpt_lab import files
from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.data import BatchSampler, find_corpus
from learngpt.errors import ConfigError, UserError
from learngpt.parallel import World, check_split, rank_rows, rank_seed
from learngpt.training import EvalPoint, eval_data
from learngpt_lab import backends, parallel
from learngpt_lab.cli import main
from helpers import one_line

BOUND = {"float64": 1e-9, "float32": 1e-4}
STEPS = 50
CFG = Config(n_layers=2, dropout=0.0, max_iters=STEPS, eval_interval=25, eval_iters=4)
DROPOUT = 0.05  # BlockVer4's two dropouts, for the JAX run with dropout on
MASK_SHAPE, MASK_RATE = (8, 8, 16), 0.5
MASK_SEEDS = (CFG.seed, CFG.seed, CFG.seed + 1)  # the same seed twice, then another
LAYOUTS = {  # the three ways to run N-way data parallel, by the name the tests use
    "torch-nproc": lambda n: parallel.Layout("torch", nproc=n),  # DDP / FSDP2, one process per device
    "flax-devices": lambda n: parallel.Layout("flax", devices=n),  # one JAX process, n host devices
    "flax-nproc": lambda n: parallel.Layout("flax", nproc=n),  # jax.distributed, n processes
    "nnx-devices": lambda n: parallel.Layout("nnx", devices=n),  # NNX's State over one process's n devices
}
slow = pytest.mark.slow
# one xdist worker for the module: each layout is then started (and each single-device reference trained)
# once, not once per worker
pytestmark = pytest.mark.xdist_group("data-parallel")
RECORD = "LEARNGPT_PARALLEL_RECORD"  # tools/parallel_roundoff.py: a file the measured figures are appended to


def record(**row):
    """row (a measured figure and what it is of) as one JSON line appended to $LEARNGPT_PARALLEL_RECORD, when
    set: docs/parallel.md's tables are generated from what these tests measured (tools/parallel_roundoff.py)."""
    if os.environ.get(RECORD):
        with open(os.environ[RECORD], "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
N_ALL = [pytest.param(2, marks=slow), pytest.param(4, marks=slow)]  # processes start, compile, train: slow


@pytest.fixture(scope="module")
def init():
    """The reference initialisation: torch's, seeded with the config's seed."""
    b = backends.get("torch")
    return b.get_weights(b.create(NANOGPT.recipe(CFG), seed=CFG.seed))


@pytest.fixture(scope="module")
def single(corpus, init):
    """(backend, dtype, dropout) -> (step losses, eval points, weights) from the backend's own single-device
    trainer on the global batches; each trained once, when a test first needs it."""
    done = {}

    def get(key: tuple) -> tuple:
        if key not in done:
            name, dtype, rate = key
            cfg = CFG.replace(dropout=rate)
            b = backends.get(name, dtype)
            model = b.create(NANOGPT.recipe(cfg), example=np.zeros((1, cfg.block_size), np.int64), weights=init)
            sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
            with pytest.MonkeyPatch.context() as mp:
                if name != "torch" and rate:  # the parallel trainer's threefry key, not the trainer's RBG default
                    mp.setattr(b.module("fast"), "dropout_key", b.module("parallel").seed_dropout)
                history = b.train(model, cfg, sampler, eval_data(sampler, cfg))
            done[key] = (np.asarray(history.step_losses), history.evals, b.get_weights(model))
        return done[key]
    return get


def needs(item) -> list[tuple[str, int, tuple]]:
    """The parallel trainings a selected test reads: (layout name, N, (dtype, sharded params, dropout))."""
    p = item.callspec.params if hasattr(item, "callspec") else {}
    plain = (p.get("dtype"), False, 0.0)
    return {"test_data_parallel_is_the_single_device_training": lambda: [(p["name"], p["n"], plain)],
            "test_sharded_params_are_the_single_device_training":
                lambda: [(p["name"], p["n"], ("float64", True, 0.0))],
            "test_torch_ddp_is_jax_data_parallel":
                lambda: [("torch-nproc", p["n"], plain), (p["name"], p["n"], plain)],
            "test_jax_data_parallel_with_dropout_is_the_single_device_training":
                lambda: [(p["name"], p["n"], ("float64", False, DROPOUT))],
            }.get(item.originalname, list)()


def start(name: str, n: int, keys: list[tuple], init: dict) -> dict:
    """One start of the named layout with N-way data parallel: the trainings keys asks for, then the masks."""
    jobs = [parallel.Job(CFG.replace(dropout=rate).to_dict(), init, dtype, sharded) for dtype, sharded, rate in keys]
    t0 = time.perf_counter()
    per_rank = parallel.launch_tasks(LAYOUTS[name](n), [(parallel.train_task, (str(find_corpus()), jobs)),
                                                        (parallel.masks_task, (MASK_SHAPE, MASK_RATE, MASK_SEEDS))])
    print(f"\n{name} N={n}: {len(jobs)} trainings and the masks in {time.perf_counter() - t0:.0f} s")
    trained = {key: [rank[0][i] for rank in per_rank] for i, key in enumerate(keys)}  # key -> per rank
    # per process [seed][its devices] -> [seed][worker], workers in mesh order: processes, then their devices
    masks = [[d for rank in per_rank for d in rank[1][s]] for s in range(len(MASK_SEEDS))]
    return {"trained": trained, "masks": masks}


@pytest.fixture(scope="module")
def runs(request, init):
    """(layout name, N) -> start(...): each layout started once per N, when a test first needs it, with every
    training that the selected tests will read from it (starting processes and compiling is what costs)."""
    wanted: dict = {}
    for item in request.session.items:
        for name, n, key in needs(item):
            wanted.setdefault((name, n), [])
            if key not in wanted[name, n]:
                wanted[name, n].append(key)
    started: dict = {}

    def get(name: str, n: int) -> dict:
        if (name, n) not in started:
            started[name, n] = start(name, n, wanted.get((name, n), []), init)
        return started[name, n]
    return get


def diffs(run: dict, reference: tuple) -> tuple[float, float, float]:
    """max |diff| of the step losses, the evaluation losses and the parameters against reference."""
    losses, evals, weights = reference
    h = run["history"]
    assert len(h["step_losses"]) == STEPS and [e["step"] for e in h["evals"]] == [e.step for e in evals]
    step = float(np.abs(np.asarray(h["step_losses"]) - losses).max())
    ev = max(abs(e[s] - getattr(r, s)) for e, r in zip(h["evals"], evals) for s in ("train_loss", "val_loss"))
    assert sorted(run["weights"]) == sorted(weights)
    param = max(float(np.abs(run["weights"][k].astype(np.float64) - weights[k]).max()) for k in weights)
    return step, ev, param


def check_same_training(runs, single, name: str, n: int, dtype: str, sharded: bool = False, rate: float = 0.0):
    trained = runs(name, n)["trained"][dtype, sharded, rate]
    first = trained[0]["history"]["step_losses"]
    assert all(r["history"]["step_losses"] == first for r in trained), "the ranks report different losses"
    step, ev, param = diffs(trained[0], single((name.split("-")[0], dtype, rate)))
    what = f"{name} N={n} [{dtype}]" + (" sharded params" if sharded else "") + (f" dropout {rate}" if rate else "")
    print(f"{what}: max |diff| against one device: step loss {step:.1e}, evaluation {ev:.1e}, params {param:.1e}")
    record(kind="single-device", layout=name, n=n, dtype=dtype, sharded=sharded, dropout=rate, step_loss=step,
           evaluation=ev, params=param)
    assert step <= BOUND[dtype], f"{what}: step losses differ by {step:.3e} > {BOUND[dtype]:.0e}"
    assert ev <= BOUND[dtype], f"{what}: evaluation losses differ by {ev:.3e} > {BOUND[dtype]:.0e}"
    if dtype == "float64":  # float32 parameters drift by themselves (docs/compare.md): losses only
        assert param <= BOUND[dtype], f"{what}: parameters differ by {param:.3e} > {BOUND[dtype]:.0e}"
    return trained


@pytest.mark.parametrize("n", N_ALL)
@pytest.mark.parametrize("name, dtype", [("torch-nproc", "float64"), ("torch-nproc", "float32"),
                                         ("flax-devices", "float64"), ("flax-devices", "float32"),
                                         ("flax-nproc", "float64"), pytest.param("flax-nproc", "float32", marks=slow),
                                         ("nnx-devices", "float64"), ("nnx-devices", "float32")])
def test_data_parallel_is_the_single_device_training(runs, single, name, dtype, n):
    trained = check_same_training(runs, single, name, n, dtype)
    held = trained[0]["held"]
    assert held["params"] == held["total"], "plain data parallel keeps a whole replica on every device"


@pytest.mark.parametrize("n", N_ALL)
@pytest.mark.parametrize("name", ["torch-nproc", "flax-devices", "nnx-devices"])
def test_sharded_params_are_the_single_device_training(runs, single, name, n):
    """FSDP2 (fully_shard) in torch, NamedSharding of the params and AdamW state in JAX: the same trajectory,
    and each device holds about 1/N of the numbers (arrays with no axis that divides stay whole in JAX)."""
    held = check_same_training(runs, single, name, n, "float64", sharded=True)[0]["held"]
    print(f"{name} N={n} sharded: a device holds {held['params']} of {held['total']} parameters, "
          f"{held['adamw']} of {2 * held['total']} AdamW moments")
    record(kind="held", layout=name, n=n, **held)
    assert held["params"] <= held["total"] / n + 200 and held["adamw"] <= 2 * (held["total"] / n + 200), held


@pytest.mark.parametrize("n", N_ALL)
@pytest.mark.parametrize("name, dtype", [("flax-devices", "float64"), ("flax-devices", "float32"),
                                         ("flax-nproc", "float64"), pytest.param("flax-nproc", "float32", marks=slow)])
def test_torch_ddp_is_jax_data_parallel(runs, name, dtype, n):
    t = runs("torch-nproc", n)["trained"][dtype, False, 0.0][0]
    f = runs(name, n)["trained"][dtype, False, 0.0][0]
    reference = (np.asarray(f["history"]["step_losses"]), [EvalPoint(**e) for e in f["history"]["evals"]],
                 f["weights"])
    step, ev, param = diffs(t, reference)
    print(f"torch DDP vs {name} N={n} [{dtype}]: step loss {step:.1e}, evaluation {ev:.1e}, params {param:.1e}")
    record(kind="torch-vs-jax", layout=name, n=n, dtype=dtype, step_loss=step, evaluation=ev, params=param)
    assert max(step, ev) <= BOUND[dtype], f"torch DDP vs {name} [{dtype}]: losses differ by {max(step, ev):.3e}"
    if dtype == "float64":
        assert param <= BOUND[dtype], f"torch DDP vs {name} [{dtype}]: parameters differ by {param:.3e}"


@slow
@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("name", ["flax-devices", "nnx-devices"])
def test_jax_data_parallel_with_dropout_is_the_single_device_training(runs, single, name, n):
    """One key for the whole mesh: each device draws its rows' part of the single-device masks, so even with
    dropout on the N-device run is the single-device run (torch's per-rank generators cannot be)."""
    check_same_training(runs, single, name, n, "float64", rate=DROPOUT)


@pytest.mark.parametrize("n", N_ALL)
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_each_rank_draws_its_own_dropout_masks_reproducibly(runs, name, n):
    masks = runs(name, n)["masks"]  # [seed][worker] -> (B/N, T, C) keep-masks
    first, again, other = masks
    assert len(first) == n and all(m.shape == (MASK_SHAPE[0] // n,) + MASK_SHAPE[1:] for m in first)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: the same seed drew different masks")
    for i in range(n):
        for j in range(i):
            assert not np.array_equal(first[i], first[j]), f"{name}: workers {i} and {j} drew the same mask"
        assert not np.array_equal(first[i], other[i]), f"{name}: seeds {MASK_SEEDS[0]}, {MASK_SEEDS[2]} agree"
    kept = np.concatenate(first).mean()
    assert abs(kept - (1 - MASK_RATE)) < 4 * np.sqrt(MASK_RATE * (1 - MASK_RATE) / np.prod(MASK_SHAPE)), kept


@pytest.mark.parametrize("n", N_ALL)
def test_jax_devices_draw_their_rows_of_the_single_device_mask(runs, n):
    import flax.linen as nn
    import jax
    from flax import nnx
    key = jax.random.key(MASK_SEEDS[0])
    whole = nn.Dropout(MASK_RATE).apply({}, np.ones(MASK_SHAPE), deterministic=False, rngs={"dropout": key}) != 0
    nnx_whole = nnx.Dropout(MASK_RATE)(np.ones(MASK_SHAPE), rngs=key) != 0
    for name, mask in (("flax-devices", whole), ("flax-nproc", whole), ("nnx-devices", nnx_whole)):
        np.testing.assert_array_equal(np.concatenate(runs(name, n)["masks"][0]), np.asarray(mask), err_msg=name)


# The slices and the loss: framework-free, and the identity behind every test above.

def test_rank_rows_cut_the_batch_in_order():
    assert [rank_rows(32, r, 4) for r in range(4)] == [slice(0, 8), slice(8, 16), slice(16, 24), slice(24, 32)]
    assert rank_rows(8, 0, 1) == slice(0, 8)


def test_the_global_loss_is_the_mean_of_the_slice_losses(corpus, init):
    """Equal slices: mean over N of (mean over B/N rows) = mean over B rows, so a rank's loss, averaged over the
    ranks, is the single-device loss (float64, to roundoff). Framework-free arithmetic, shown in torch; the
    equivalence tests above show it in both."""
    b = backends.get("torch", "float64")
    model = b.create(NANOGPT.recipe(CFG), example=np.zeros((1, 8), np.int64), weights=init)
    x, y = BatchSampler(corpus, CFG.batch_size, CFG.block_size, CFG.seed).sample()
    whole = b.loss(model, x, y)
    for n in (2, 4):
        slices = [b.loss(model, x[rank_rows(32, r, n)], y[rank_rows(32, r, n)]) for r in range(n)]
        assert abs(np.mean(slices) - whole) < 1e-12, (n, np.mean(slices), whole)
    unequal = (b.loss(model, x[:8], y[:8]) + b.loss(model, x[8:], y[8:])) / 2  # 8 and 24 rows: not the mean
    assert abs(unequal - whole) > 1e-3


@pytest.mark.parametrize("batch, n, message", [
    (32, 3, "the batch of 32 rows does not divide into --nproc 3 equal slices"),
    (32, 64, "--nproc 64 is larger than the batch of 32 rows"),
    (32, 0, "--nproc must be a positive integer, got 0"),
])
def test_a_batch_that_does_not_split_is_refused(batch, n, message):
    with pytest.raises(ConfigError, match=message):
        check_split(batch, n)


def test_rank_seeds_differ_across_ranks_and_repeat_for_a_seed():
    seeds = [rank_seed(1337, r) for r in range(8)]
    assert len(set(seeds)) == 8 and seeds == [rank_seed(1337, r) for r in range(8)]
    assert seeds[0] != 1337 and rank_seed(1338, 0) != seeds[0] and all(0 <= s < 2**31 for s in seeds)


def test_the_world_is_read_from_torchruns_variables():
    env = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}
    world = World.from_env(env)
    assert world == World(3, 4, 1, "10.0.0.1", 29500) and world.env() == env
    assert World.from_env({}) is None
    with pytest.raises(ConfigError, match="MASTER_ADDR"):
        World.from_env({"WORLD_SIZE": "2", "RANK": "0"})
    with pytest.raises(ConfigError, match=r"RANK 4 is outside \[0, WORLD_SIZE 4\)"):
        World.from_env({**env, "RANK": "4"})


def test_gloo_on_cpu_nccl_on_gpu():
    from learngpt_flax import parallel as flax_parallel
    from learngpt_torch import parallel as torch_parallel
    for lib in (torch_parallel, flax_parallel):
        assert (lib.collectives("cpu"), lib.collectives("gpu")) == ("gloo", "nccl")


def test_gpu_without_one_is_refused_before_any_process_starts():
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(UserError, match=r"--device gpu: torch sees 0 GPU\(s\), the run needs 2"):
        parallel.Layout("torch", nproc=2, device="gpu").check(32)


# The command: refusals in one line, a killed rank, a parallel checkpoint on one device, torchrun.


@pytest.mark.parametrize("flags, message", [
    (["--backend", "torch", "--nproc", "3"], "the batch of 32 rows does not divide into --nproc 3 equal slices"),
    (["--backend", "flax", "--devices", "64"], "--devices 64 is larger than the batch of 32 rows"),
    (["--backend", "torch", "--devices", "2"], "--devices 2: torch runs one process per device; use --nproc 2"),
    (["--backend", "flax", "--nproc", "0"], "argument --nproc: expected a positive integer, got 0"),
    (["--backend", "torch", "--nproc", "2", "--device", "tpu"], "unknown device 'tpu'"),
])
def test_the_command_refuses_a_layout_that_cannot_run(capsys, tmp_path, flags, message):
    t0 = time.perf_counter()
    one_line(capsys, ["train"] + flags + ["--iters", "1", "--out", str(tmp_path)], message)
    assert time.perf_counter() - t0 < 10 and not list(tmp_path.glob("*.safetensors"))


def command(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "learngpt_lab.cli"] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def ranks_of(pid: int) -> dict[int, int]:
    """rank -> pid of the processes a learngpt command started (their environment names the rank)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) != pid:
                        continue
                with open(f"/proc/{entry}/environ", "rb") as f:
                    env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if b"RANK" in env:
                found[int(env[b"RANK"])] = int(entry)
    return found


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


LONG_RUN = ["--nproc", "2", "--iters", "100000", "--eval-interval", "100000", "--eval-iters", "1", "--n-layers", "1",
            "--no-progress"]

# CPU-seconds of a rank past importing its framework and joining the run, about twice what that takes: from
# there a torch rank is training, a flax rank compiling its step (a 1-layer NanoGPT, as LONG_RUN trains)
JOINED_CPU = {"torch": 5, "flax": 8}


def started_ranks(proc, which: str) -> dict[int, int]:
    """The two ranks of proc, once both are past importing and joining (JOINED_CPU)."""
    deadline = time.time() + 180
    while time.time() < deadline and len(ranks_of(proc.pid)) < 2:
        time.sleep(0.2)
    ranks = ranks_of(proc.pid)
    assert len(ranks) == 2, f"the command started {ranks}"
    while time.time() < deadline and min(cpu_seconds(p) for p in ranks.values()) < JOINED_CPU[which]:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    return ranks


@pytest.mark.slow
@pytest.mark.parametrize("which", ["torch", "flax"])
def test_a_killed_rank_stops_the_run_naming_it(tmp_path, which):
    proc = command(["train", "--backend", which, *LONG_RUN, "--out", str(tmp_path)])
    ranks = started_ranks(proc, which)
    t0 = time.perf_counter()
    os.kill(ranks[1], signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    stopped = time.perf_counter() - t0
    print(f"{which}: the command ended {stopped:.2f} s after rank 1 was killed: {err.strip()!r}")
    record(kind="killed", backend=which, seconds=stopped)
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, (proc.returncode, err)
    assert "rank 1 of 2 died (killed by SIGKILL, exit code -9); the run was stopped, nothing was saved" in err
    assert stopped < 5, f"{stopped:.1f} s from the kill to the end of the command"
    assert not any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"
                   for p in ranks.values()), "a rank outlived the run"
    assert not list(tmp_path.glob("*.safetensors")), "something was saved"
    assert not list(tmp_path.glob(files.TEMP_PREFIX + "*")), "a temporary file was left"


def test_a_parallel_checkpoint_loads_on_one_device_in_either_backend(capsys, tmp_path, corpus):
    """FSDP2 over 2 torch processes (the checkpoint is gathered from shards) -> a plain file either backend
    loads, whose loss on a batch is the same in both."""
    assert main(["train", "--backend", "torch", "--nproc", "2", "--shard-params", "--iters", "3", "--eval-interval",
                 "3", "--eval-iters", "1", "--n-layers", "1", "--no-progress", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "torch FSDP2 (fully_shard) over 2 processes" in printed and "each device held" in printed, printed
    x, y = BatchSampler(corpus, 4, 8, 0).sample()
    losses = {}
    for name in backends.NAMES:
        model, ckpt = backends.get(name).load_checkpoint(tmp_path / "torch.safetensors")
        assert ckpt.step == 3 and ckpt.config.n_layers == 1
        losses[name] = backends.get(name).loss(model, x, y)
    assert abs(losses["torch"] - losses["flax"]) < 1e-5, losses


@pytest.mark.slow
def test_torchrun_runs_the_same_command(tmp_path):
    """`torchrun --nproc-per-node 2 -m learngpt_lab.cli train --backend torch ...`: each rank joins from
    torchrun's variables; rank 0 saves once all are done."""
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m",
                          "learngpt_lab.cli", "train", "--backend", "torch", "--iters", "3", "--eval-interval", "3",
                          "--eval-iters", "1", "--n-layers", "1", "--no-progress", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "torch DDP over 2 processes (torchrun)" in run.stdout, run.stdout
    model, ckpt = backends.get("flax").load_checkpoint(tmp_path / "torch.safetensors")
    assert ckpt.step == 3


def gone(pids) -> bool:
    def alive(p):
        try:
            return open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return not any(alive(p) for p in pids)


def finish(proc, ranks: dict[int, int], timeout: float = 60) -> tuple[str, str]:
    """proc's output once it ended; past the timeout, it and its ranks are killed (no test leaves them) and
    the test fails."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in [proc.pid, *ranks.values()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pytest.fail(f"the command was still running {timeout:.0f} s later: {proc.communicate()}")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["torch", "flax"])
def test_a_stopped_rank_ends_the_run_in_one_line(tmp_path, which):
    """SIGSTOP to rank 1: the others would wait in their collectives for TIMEOUT_S; the launcher sees the
    stopped rank and ends the run: one line naming it, exit 2, every rank gone, nothing saved."""
    proc = command(["train", "--backend", which, *LONG_RUN, "--out", str(tmp_path)])
    ranks = started_ranks(proc, which)
    os.kill(ranks[1], signal.SIGSTOP)
    out, err = finish(proc, ranks)
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, (proc.returncode, err)
    assert "rank 1 of 2 was stopped (SIGSTOP) for 5 s; the run was stopped, nothing was saved" in err, err
    assert gone(ranks.values()), "a rank outlived the run"
    assert sorted(p.name for p in tmp_path.iterdir()) == [files.RunLock.NAME]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["torch", "flax"])
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_the_ranks_end_quietly_when_the_launcher_dies(tmp_path, which, sig):
    """The launcher killed (SIGKILL: nothing of it runs) or terminated (SIGTERM: it stops its ranks itself):
    the ranks end without a traceback (a rank whose peer vanished must not report the lost connection), at
    most one line on stderr, none left."""
    proc = command(["train", "--backend", which, *LONG_RUN, "--out", str(tmp_path)])
    ranks = started_ranks(proc, which)
    proc.send_signal(getattr(signal, sig))
    out, err = finish(proc, ranks)
    assert gone(ranks.values()), "a rank outlived the launcher"
    time.sleep(1)  # a rank that would print, prints by now (the pipe is shared with the launcher)
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    if sig == "SIGTERM":
        assert proc.returncode == 143 and err.strip() == "learngpt: terminated (SIGTERM)", (proc.returncode, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == [files.RunLock.NAME]

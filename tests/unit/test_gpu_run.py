"""The prepared GPU run without a GPU: its plan fits the lent machine's ten minutes and holds every arm, the
matrix keeps to its caps and pairs its figures round by round (fake arms, no framework), the run's parts get
their TF32 settings and caps, and the recorder and the docs generator render a small synthetic run."""
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from learngpt_lab import stats
from tools import docs, gpu_bench, gpu_record, gpu_run, ladder
from helpers import one_line


def test_the_plan_fits_ten_minutes_with_margin_and_holds_every_arm():
    plan = gpu_run.plan()
    assert plan["total_seconds"] <= 8 * 60 <= plan["command_limit_seconds"] - 120
    assert plan["total_seconds"] == sum(p["seconds"] for p in plan["parts"] if "beside" not in p)
    # the parts beside each other each fit the seconds they are given; every rung's arms fit its seconds
    for r in plan["matrix"]:
        warm = sum(gpu_bench.WARMUP_ESTIMATE[a.split(" | ")[0]] for a in r["arms"])
        assert warm + r["rounds_seconds"] <= r["seconds"]
    rungs = {r["rung"]: r for r in plan["matrix"]}
    assert set(rungs) == set(ladder.RUNGS) | {"gpu"}  # every rung of the CPU ladder and the GPU recipe
    assert rungs["gpu"]["size"] == [64, 256, 384, 6, 6] and rungs["gpu"]["dropout"] == 0.2
    modes = {"torch eager", "torch.compile", "torch.compile reduce-overhead", "jax.jit", "Flax fast"}
    for r in plan["matrix"]:  # every mode at every rung
        assert {a.split(" | ")[0] for a in r["arms"]} == modes
    assert {tuple(a.split(" | ")) for a in rungs["gpu"]["arms"]} == {(m, p) for m in modes
                                                                     for p in ("fp32", "tf32", "bf16")}
    assert plan["parity_cases"] == 58 and [p["part"] for p in plan["parts"]][:3] == ["setup", "parity", "trajectory"]


def test_the_dry_run_prints_the_plan_and_its_time(capsys):
    assert gpu_run.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    plan = gpu_run.plan()
    assert out.splitlines()[0].startswith(f"GPU run plan: {plan['total_seconds']:.0f} s planned (limit 480 s")
    for word in ("torch.compile reduce-overhead", "Flax fast", "jax.jit", "TF32 off", "TF32 on", "bf16",
                 "58 cases", "matrix gpu", "B64 T256 C384 L6 H6", "total"):
        assert word in out, word


class FakeHistory(SimpleNamespace):
    pass


def fake_arms(monkeypatch, seconds_per_step: dict, warmups: dict):
    """gpu_bench's arms replaced: each segment 'takes' its mode's seconds per step (no sleeping), each warm-up
    sleeps its given seconds; what they were built with is kept."""
    built = []

    def build(mode, precision, cfg, corpus, segment, device):
        built.append((mode, precision, segment))

        def call(first=[True]):
            if first[0]:
                first[0] = False
                time.sleep(warmups.get(mode, 0.0))
                return FakeHistory(train_seconds=0.0, steps=segment, compile_seconds=warmups.get(mode, 0.0))
            return FakeHistory(train_seconds=seconds_per_step[(mode, precision)] * segment, steps=segment,
                               compile_seconds=0.0)
        return call
    monkeypatch.setattr(gpu_bench, "torch_arm", build)
    monkeypatch.setattr(gpu_bench, "jax_arm", build)
    return built


def corpus():
    return SimpleNamespace(tokenizer=SimpleNamespace(vocab_size=65))


def test_a_rung_pairs_every_arm_and_skips_what_does_not_fit(monkeypatch):
    monkeypatch.setattr(gpu_bench, "WARMUP_ESTIMATE", {"torch eager": 0.01, "torch.compile": 0.01,
                                                       "torch.compile reduce-overhead": 50.0, "jax.jit": 0.01,
                                                       "Flax fast": 0.01})
    speed = {(m, p): {"torch eager": 4e-3, "torch.compile": 2e-3, "torch.compile reduce-overhead": 1e-3,
                      "jax.jit": 2e-3, "Flax fast": 1e-3}[m] / (2 if p == "bf16" else 1)
             for m in gpu_bench.MODES for p in gpu_bench.PRECISIONS}
    built = fake_arms(monkeypatch, speed, {})
    records = []
    raw = gpu_bench.measure_rung("curriculum", ("fp32", "bf16"), gpu_bench.MODES, 3.0, SimpleNamespace(kind="cpu"),
                                 corpus(), lambda r: records.append(r["rounds"]))
    arms = raw["arms"]
    ro = [k for k in arms if k.startswith("torch.compile reduce-overhead")]
    assert ro and all("did not fit" in arms[k]["skipped"] for k in ro)  # 50 s planned, 3 s in the rung
    assert {(m, p) for m, p, _ in built} == {(m, p) for m in gpu_bench.MODES for p in ("fp32", "bf16")} - {
        ("torch.compile reduce-overhead", p) for p in ("fp32", "bf16")}
    assert {s for *_, s in built} == {gpu_bench.SEGMENT["curriculum"]}
    assert raw["rounds"] == gpu_bench.MIN_ROUNDS  # the paired ratios are exact: narrow after the first rounds
    assert records[-1] == raw["rounds"] and len(records) > raw["rounds"]  # written after every round
    assert {p: v["compute"] for p, v in raw["settings"].items()} == {"fp32": "float32", "bf16": "bfloat16"}
    result = gpu_bench.summarise({"rungs": {"curriculum": raw},
                                  "peak": {"gflops": {"fp32": {"peak": 10.0}, "bf16": {"peak": 20.0}}}})
    r = result["rungs"]["curriculum"]
    fast = r["arms"]["Flax fast | bf16"]
    assert fast["vs_reference"] == pytest.approx(8.0) and fast["interval"] == pytest.approx([8.0, 8.0])
    assert fast["steps_per_second"] == pytest.approx(2000.0)
    assert fast["peak_share"] == pytest.approx(2000.0 * raw["gflop_per_step"] / 20.0)  # its own precision's peak
    assert r["pairs"]["Flax fast | fp32 / torch.compile | fp32"]["median"] == pytest.approx(2.0)
    assert r["pairs"]["torch eager | bf16 / torch eager | fp32"]["median"] == pytest.approx(2.0)
    assert "torch.compile reduce-overhead | fp32 / torch.compile | fp32" not in r["pairs"]  # skipped: no pair
    assert r["arms"]["torch.compile reduce-overhead | fp32"]["skipped"]


def test_the_figures_are_the_paired_statistics_of_the_raw_times():
    rng = np.random.default_rng(0)
    ref = list(0.01 * (1 + 0.2 * rng.random(9)))
    other = list(np.array(ref) / 3 * (1 + 0.05 * rng.random(9)))
    raw = {"rungs": {"gpu": {"size": [64, 256, 384, 6, 6], "dropout": 0.2, "segment_steps": 10, "rounds": 9,
                             "gflop_per_step": 1000.0,
                             "arms": {"torch eager | fp32": {"mode": "torch eager", "precision": "fp32"},
                                      "Flax fast | fp32": {"mode": "Flax fast", "precision": "fp32"},
                                      "jax.jit | fp32": {"mode": "jax.jit", "precision": "fp32", "error": "X: y"}},
                             "times": {"torch eager | fp32": ref, "Flax fast | fp32": other[:7]}}}}
    arm = gpu_bench.summarise(raw)["rungs"]["gpu"]["arms"]
    want = stats.paired_figure(other[:7], ref[:7])  # a run stopped mid-way: the rounds both finished
    assert arm["Flax fast | fp32"]["vs_reference"] == want["median"] and arm["Flax fast | fp32"]["rounds"] == 7
    assert arm["Flax fast | fp32"]["interval"] == want["interval"]
    assert arm["jax.jit | fp32"]["error"] == "X: y" and arm["jax.jit | fp32"]["rounds"] == 0
    assert arm["Flax fast | fp32"]["peak_share"] is None  # no peak measured: no share invented


def test_a_warm_up_past_its_cap_is_stopped_and_the_rung_goes_on(monkeypatch):
    monkeypatch.setattr(gpu_bench, "WARMUP_ESTIMATE", {m: 0.2 for m in gpu_bench.MODES})
    fake_arms(monkeypatch, {(m, "fp32"): 1e-3 for m in gpu_bench.MODES}, {"jax.jit": 5.0})
    raw = gpu_bench.measure_rung("curriculum", ("fp32",), gpu_bench.MODES, 3.0, SimpleNamespace(kind="cpu"),
                                 corpus(), lambda r: None, warmup_cap=2.0)
    jit = raw["arms"]["jax.jit | fp32"]
    assert jit["error"].startswith("ArmTimeout: warm-up stopped at its cap") and jit["warmup_seconds"] < 5.0
    assert len(raw["times"]) == 4 and raw["rounds"] >= 1  # the other four arms paired


def test_the_run_gives_parity_tf32_off_and_the_matrix_its_own_settings(monkeypatch, tmp_path):
    started = []

    class Proc:
        def __init__(self, cmd, stdout, stderr, env, start_new_session):
            self.cmd, self.env, self.pid = cmd, env, 0  # no process: nothing to stop
            started.append(self)
            if "gpu_bench.py" in cmd[1]:  # the matrix leaves its raw times, as a stopped run would
                out = Path(cmd[cmd.index("--out") + 1])
                out.with_name("gpu-bench.raw.json").write_text(json.dumps({"rungs": {}, "device": "gpu"}))

        def wait(self, timeout=None):
            return 0
    monkeypatch.setattr(gpu_run.subprocess, "Popen", Proc)
    assert gpu_run.main(["--out", str(tmp_path)]) == 0
    names = [Path(p.cmd[1]).name for p in started]
    assert names == ["gpu_check.py", "gpu_trajectory.py", "gpu_bench.py"]
    for p in started[:2]:
        assert p.env["NVIDIA_TF32_OVERRIDE"] == "0" and p.env["JAX_DEFAULT_MATMUL_PRECISION"] == "highest"
    assert "NVIDIA_TF32_OVERRIDE" not in started[2].env  # the matrix turns TF32 on and off itself
    rungs = started[2].cmd[started[2].cmd.index("--rungs") + 1]
    seconds = {r["rung"]: r["seconds"] for r in gpu_run.plan()["matrix"]}
    # the parity parts ended at once: their unused seconds go to the first rung, the GPU's
    assert rungs.split(",") == [f"gpu:{seconds['gpu'] + gpu_run.PARITY:.0f}:fp32+tf32+bf16"] + [
        f"{r}:{seconds[r]:.0f}:fp32" for r in ("curriculum", "middle", "laptop", "wide")]
    deadline = float(started[2].cmd[started[2].cmd.index("--deadline") + 1])
    assert 0 < deadline - time.time() <= sum(seconds.values()) + gpu_run.PARITY + gpu_run.MATRIX_START + gpu_run.PEAK + 1
    run = json.loads((tmp_path / "gpu-run.json").read_text())
    assert [p["status"] for p in run["parts"]] == ["done"] * 3 and run["plan"]["total_seconds"] <= 480
    assert json.loads((tmp_path / "gpu-bench.json").read_text())["schema"] == "learngpt-gpu-bench/1"


def synthetic_run(folder: Path) -> None:
    """A small GPU run's files, as the run writes them."""
    folder.mkdir(parents=True)
    times = {"torch eager | fp32": [0.04] * 6, "Flax fast | fp32": [0.02] * 6, "torch.compile | fp32": [0.025] * 6}
    raw = {"device": "gpu", "created": "2026-12-07T01:00:00+0000",
           "machine": {"gpu_name": "NVIDIA H100 80GB HBM3", "jax_device_kind": "NVIDIA H100 80GB HBM3",
                       "versions": {"torch": "2.11.0+cu130", "jax": "0.11.2", "flax": "0.12.0"}},
           "peak": {"n": 8192, "gflops": {"fp32": {"torch": 50000.0, "jax": 48000.0, "peak": 50000.0}}},
           "rungs": {"gpu": {"size": [64, 256, 384, 6, 6], "dropout": 0.2, "segment_steps": 10, "rounds": 6,
                             "settings": {"fp32": {"torch_float32_matmul_precision": "highest",
                                                   "jax_default_matmul_precision": "highest"},
                                          "tf32": {"torch_float32_matmul_precision": "high",
                                                   "jax_default_matmul_precision": "tensorfloat32"}},
                             "gflop_per_step": 1000.0, "times": times,
                             "arms": {**{k: dict(zip(("mode", "precision"), k.split(" | ")), compile_seconds=12.5)
                                         for k in times},
                                      "torch.compile reduce-overhead | fp32": {
                                          "mode": "torch.compile reduce-overhead", "precision": "fp32",
                                          "skipped": "not started: no time left"}}}}}
    bench = gpu_bench.summarise(raw)
    parity = {"schema": "learngpt-gpu-parity/1", "bounds": {"float32": {"output": 1e-5, "gradient": 1e-4},
                                                            "float64": {"output": 1e-12, "gradient": 1e-10}},
              "rows": [{"component": "HeadVer4", "dtype": "float32", "ok": True, "output_max_diff": 2.5e-7,
                        "grad_max_diff": 3.5e-7}], "complete": True}
    traj = {"schema": "learngpt-gpu-trajectory/1", "verdicts": [
        {"side": "linen", "dtype": "float64", "seed": 1337, "step_loss_max": 4.4e-15, "eval_loss_max": 1.1e-15,
         "param_max": 8.4e-15, "bound": 1e-9, "ok": True}]}
    run = {"schema": "learngpt-gpu-run/1", "created": "2026-12-07T01:00:00+0000", "wall_seconds": 431.0,
           "plan": {"command_limit_seconds": 600}, "parts": [{"part": "matrix", "status": "done", "seconds": 300.0}]}
    for name, data in (("gpu-bench", bench), ("gpu-parity", parity), ("gpu-trajectory", traj), ("gpu-run", run)):
        (folder / f"{name}.json").write_text(json.dumps(data))


def test_no_recorded_run_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(docs, "RESULTS", tmp_path)
    for block in ("gpu:matrix", "gpu:parity", "gpu:summary"):
        assert docs.render(block) == docs.GPU_NONE + "\n"
    assert docs.GPU_NONE.startswith("No GPU run recorded yet: ") and "\n" not in docs.GPU_NONE


def test_a_recorded_run_renders_into_the_tables(monkeypatch, tmp_path, capsys):
    synthetic_run(tmp_path / "out")
    results = tmp_path / "results"
    (results).mkdir()
    (results / "gpu-parity.json").write_text("{}")  # an older run's file that this run did not write... replaced
    assert gpu_record.record(tmp_path / "out", results) == ["gpu-bench.json", "gpu-parity.json", "gpu-run.json",
                                                             "gpu-trajectory.json"]
    monkeypatch.setattr(docs, "RESULTS", results)
    matrix = docs.render("gpu:matrix")
    assert matrix.startswith("Measured 2026-12-07 01:00 on NVIDIA H100 80GB HBM3 (JAX: NVIDIA H100 80GB HBM3): torch "
                             "2.11.0+cu130, jax 0.11.2, flax 0.12.0; the run took 431 s of the 600 s limit "
                             "(matrix done in 300 s).")
    assert "fp32 50000 GFLOP/s (torch 50000, JAX 48000)" in matrix
    assert "'highest') (read back in the run: torch `highest`, JAX `highest`)" in matrix
    assert "(read back in the run: torch `high`, JAX `tensorfloat32`)" in matrix
    assert "| torch eager | fp32 | 25.0 | the base | 25000 | 50% | 12.5 |" in matrix
    assert "| Flax fast | fp32 | 50.0 | 2.00× [2.00, 2.00] | 50000 | 100% | 12.5 |" in matrix
    assert "| torch.compile reduce-overhead | fp32 | not started: no time left | | | | |" in matrix
    assert "| Flax fast fp32 / torch.compile fp32 | 1.25× [1.25, 1.25] | 6 |" in matrix
    parity = docs.render("gpu:parity")
    assert "| HeadVer4 | float32 | 2.50e-07 | 3.50e-07 | pass |" in parity and "1 of 1 pass." in parity
    assert "| linen | float64 | 1337 | 4.4e-15 | 1.1e-15 | 8.4e-15 | 1e-09 | pass |" in parity
    summary = docs.render("gpu:summary")
    assert summary == ("GPU (NVIDIA H100 80GB HBM3, 2026-12-07; docs/bench.md): at nanoGPT's GPU recipe (B64 T256 "
                       "C384 L6 H6) fp32: Flax fast 1.25× [1.25, 1.25] torch.compile; parity 1/1, trajectories 1/1 "
                       "within bounds.\n")
    text = "<!-- generated: gpu:matrix -->\n| Flax fast | fp32 | 99.9 |\n<!-- end generated -->"
    assert docs.regenerate(text) != text  # a typed figure is caught


def test_the_recorder_wants_a_run_folder(tmp_path, capsys):
    one_line(capsys, [str(tmp_path), "--no-docs"], "holds no gpu-run.json", command=gpu_record.main)
    (tmp_path / "gpu-run.json").write_text(json.dumps({"schema": "other"}))
    one_line(capsys, [str(tmp_path), "--no-docs"], "expected 'learngpt-gpu-run/1'", command=gpu_record.main)


def test_the_check_names_what_this_python_lacks_in_one_line(monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    from importlib import metadata
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "0.1" if name == "optax" else (
        real(name) if name != "safetensors" else (_ for _ in ()).throw(metadata.PackageNotFoundError(name))))
    assert gpu_run.check_env() == 2
    got = capsys.readouterr()
    err = got.err.strip()
    assert got.out == "" and len(err.splitlines()) == 1 and err.startswith(f"gpu_run: error: {sys.executable} lacks: ")
    for what in ("optax 0.1 (needs >=0.2.2)", "safetensors (not installed)", f"torch {torch.__version__} sees no "
                 "CUDA GPU", "sees no gpu device"):
        assert what in err, what


def test_a_part_past_its_cap_is_stopped_with_its_process_group(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_run, "GRACE", 0.0)
    proc = gpu_run.run_part("sleeper", ["sh", "-c", "sleep 30 & sleep 30"], tmp_path / "log.txt", {}, 0.2,
                            time.perf_counter() + 60)
    info = gpu_run.wait_part(proc)
    assert info["status"] == "stopped at its cap" and info["seconds"] < 30 and info["cap_seconds"] == 0.2
    for _ in range(50):  # none of its group left running once the kill has landed
        if not running_in_group(proc.pid):
            break
        time.sleep(0.05)
    assert not running_in_group(proc.pid)


def running_in_group(pgid: int) -> list[int]:
    """The processes of a process group that have not ended (zombies, ended but not yet reaped, left out)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, pgrp, ...
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found

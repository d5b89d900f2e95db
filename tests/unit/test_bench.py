"""The bench's JSON schema on a tiny run (never its timings), the table and plot, NNX's arms beside torch's and
linen's (through the command line too), and its user errors. The method itself (pairing, flags) is tested on
synthetic timings in test_bench_stats.py."""
import argparse
import dataclasses
import json

import numpy as np
import pytest

from learngpt_lab import stats
from learngpt.errors import UserError
from learngpt_lab.bench import plan as bench
from learngpt_lab.bench import report
from learngpt_lab.bench.run import run_bench
from learngpt_lab.bench.runners import setup_device
from learngpt_lab.commands import bench as command

# nothing here compares speeds (never the timing marker): the tests share one bench run, on one xdist worker
pytestmark = pytest.mark.xdist_group("bench")


# every kind of record, as little work as possible
TINY = bench.Size(2, 4, 8, 1, 2)
TINY_PLAN = bench.Plan(
    components=("MultiHeadVer2",), impls=("torch", "jax.jit", "jax", "nnx.jit", "nnx"), compile_components=(),
    nojit_train_components=(), sweep=bench.sweep_points({}, (TINY,)), sweep_compile_axes=(), sweep_modes=("train",),
    sweep_impls=("torch", "jax.jit", "nnx.jit"),  # op by op every primitive compiles once: the component covers it
    loop_steps=4, loop_rounds=2, repeats=3, warmup=1, min_repeat_seconds=0.0, max_calls=1, retries=0,
    max_rounds=4, budget_seconds=60.0, loop_budget_seconds=60.0,  # 3 rounds, a 4th where an interval is wide
    component_size=TINY, loop_size=TINY,
    loops=tuple(lp for lp in bench.LOOPS if lp != "torch.compile loop"))  # inductor: in test_torch_fast


@pytest.fixture(scope="module")
def result(corpus, tmp_path_factory):
    device = setup_device("cpu")
    out = run_bench(TINY_PLAN, device, corpus=corpus, progress=False)
    path = tmp_path_factory.mktemp("bench") / "bench-cpu.json"
    report.write_json(out, str(path))
    return json.loads(path.read_text()), out


@pytest.mark.slow  # shares one bench run (about 30 s)
def test_json_has_machine_settings_measurements_loops_summary(result):
    data, _ = result
    assert data["schema"] == bench.SCHEMA
    assert {"machine", "settings", "measurements", "loops", "summary", "created"} <= set(data)
    machine = data["machine"]
    for key in ("cpu_model", "cpu_count", "cpus_usable", "platform", "python", "torch_threads", "device",
                "jax_device", "load_average_at_start", "load_average_at_end"):
        assert key in machine, key
    assert set(machine["versions"]) >= {"torch", "jax", "jaxlib", "flax", "optax", "numpy"}
    assert machine["device"] == data["settings"]["device"] == "cpu"


@pytest.mark.slow  # shares one bench run (about 30 s)
def test_every_planned_measurement_is_recorded_with_its_fields(result):
    data, _ = result
    planned = bench.planned(TINY_PLAN)
    got = {(m["impl"], m["component"], m["mode"], tuple(m["size"].values())) for m in data["measurements"]}
    assert got == {(i, c, md, tuple(dataclasses.asdict(s).values()))
                   for i, c, md, s, _ in planned}
    fields = {f.name for f in dataclasses.fields(bench.Measurement)}
    eager = {(m["component"], m["mode"], tuple(m["size"].values())): m for m in data["measurements"]
             if m["impl"] == "torch"}
    for m in data["measurements"]:
        assert set(m) == fields
        assert m["error"] is None, m
        assert m["impl"] in bench.IMPLS and m["mode"] in bench.MODES
        assert set(m["size"]) == {"batch", "block_size", "embed_size", "n_layers", "n_heads"}
        assert len(m["times_s"]) == len(m["ratios"]) == m["repeats"] == m["attempts"]
        assert TINY_PLAN.repeats <= m["repeats"] <= TINY_PLAN.max_rounds and m["calls_per_repeat"] >= 1
        for key in ("first_call_s", "median_s", "p25_s", "p75_s", "min_s", "max_s", "speedup_vs_torch",
                    "speedup_p25", "speedup_p75", "spread", "ratio_spread"):
            assert isinstance(m[key], float) and m[key] >= 0, (key, m)
        assert m["min_s"] <= m["p25_s"] <= m["median_s"] <= m["p75_s"] <= m["max_s"]
        assert m["speedup_p25"] <= m["speedup_vs_torch"] <= m["speedup_p75"]
        # each ratio is torch eager's repeat over this one's, round by round: paired, not medians over medians
        ref = eager[(m["component"], m["mode"], tuple(m["size"].values()))]["times_s"]
        assert m["ratios"] == pytest.approx([r / t for r, t in zip(ref, m["times_s"])], rel=1e-12)
        # flagged exactly when the 95 % interval (of the ratio; torch eager: of its time) stays wide
        lo, hi = m["interval"]
        shown = m["times_s"] if m["impl"] == "torch" else m["ratios"]
        assert (lo, hi) == stats.median_interval(shown)
        wide = (hi - lo) / float(np.median(shown)) > TINY_PLAN.limit
        assert m["flags"] == (["interval"] if wide else []) and m["unstable"] == wide
        if wide:  # rounds were added up to the cap (the budget is far)
            assert m["repeats"] == TINY_PLAN.max_rounds
        assert len(m["reasons"]) == len(m["flags"]) and all(isinstance(r, str) and r for r in m["reasons"])
        if m["impl"] == "torch":
            assert m["speedup_vs_torch"] == 1.0
    assert {m["axis"] for m in data["measurements"]} == {"components", "scale"}


@pytest.mark.slow  # shares one bench run (about 30 s)
def test_loops_are_the_trainers(result):
    data, _ = result
    assert [lp["loop"] for lp in data["loops"]] == list(TINY_PLAN.loops)
    fields = {f.name for f in dataclasses.fields(bench.LoopMeasurement)}
    torch_rates = data["loops"][0]["rates"]
    for lp in data["loops"]:
        assert set(lp) == fields
        assert lp["error"] is None, lp
        assert TINY_PLAN.loop_rounds <= lp["rounds"] <= TINY_PLAN.max_rounds
        assert lp["segment_steps"] * lp["rounds"] == lp["steps"]
        assert lp["steps_per_second"] > 0 and lp["compile_seconds"] >= 0
        assert len(lp["rates"]) == len(lp["ratios"]) == lp["rounds"]
        assert lp["ratios"] == pytest.approx([r / t for r, t in zip(lp["rates"], torch_rates)], rel=1e-12)
        assert lp["unstable"] == bool(lp["flags"]) and len(lp["reasons"]) >= len(lp["flags"])
    assert data["loops"][0]["speedup_vs_torch"] == 1.0
    assert set(data["summary"]["loops_steps_per_second"]) == set(TINY_PLAN.loops)
    assert data["summary"]["figures"] == len(data["measurements"]) + len(data["loops"])
    assert data["summary"]["unstable_figures"] == sum(m["unstable"] for m in data["measurements"] + data["loops"])
    settings = data["settings"]
    assert settings["spread_limit"] == TINY_PLAN.limit and settings["threads"] == TINY_PLAN.threads


@pytest.mark.slow  # shares one bench run (about 30 s)
def test_table_and_plot(result, tmp_path):
    _, out = result
    table = report.format_table(out)
    assert "MultiHeadVer2" in table and "NanoGPT sweep" in table and "flax scan" in table and "nnx scan" in table
    assert "nnx.jit" in table and "first nnx.jit" in table and "not measured" not in table
    first = table.splitlines()[0]
    assert "threads torch 1, XLA" in first and "load average" in first  # threads and load, first line
    # every unstable figure, and only those, carries a ?; one warning line when there is any
    unstable = report.unstable_figures(out)
    assert (report.warning(out) is not None) == bool(unstable)
    assert sum(line.startswith("warning:") for line in table.splitlines()) == (1 if unstable else 0)
    if not unstable:
        assert "?" not in table.split("\n", 2)[2]
    png = tmp_path / "bench.png"
    report.plot(out, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # shares one bench run (about 30 s)
def test_a_plot_that_fails_half_written_leaves_the_old_one(result, tmp_path, monkeypatch):
    """The plot goes through the one atomic writer (issue 24, item 3): a full disk in the middle of savefig
    leaves the earlier figure byte for byte and no temporary file."""
    from matplotlib.figure import Figure
    _, out = result
    png = tmp_path / "bench-cpu.png"
    report.plot(out, str(png))
    before = png.read_bytes()

    def half_then_full(self, fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(Figure, "savefig", half_then_full)
    with pytest.raises(Exception, match="No space left on device"):
        report.plot(out, str(png))
    assert png.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["bench-cpu.png"]


@pytest.mark.slow  # a reduced --quick through the command line (about a minute)
def test_quick_through_the_command_line_measures_nnx_like_the_others(tmp_path, monkeypatch, capsys):
    """`learngpt bench --quick` at tiny sizes: NNX's arms (nnx.jit, NNX without jit) are measured in the same
    paired rounds as torch's, compile apart, and its loops (fast and the lesson's) beside the torch loop, the NNX
    fast loop paired with linen's."""
    import os
    from learngpt_lab.cli import main
    quick = dataclasses.replace(bench.QUICK, component_size=TINY, loop_size=TINY, nojit_forward_components=(
        "MultiHeadVer2",), loops=("torch loop", "flax scan", "nnx scan", "nnx lesson scan"), loop_rounds=2,
        repeats=3, warmup=1, max_calls=2, max_rounds=4, budget_seconds=20.0, loop_budget_seconds=30.0)
    monkeypatch.setattr(bench, "QUICK", quick)
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:  # the command pins its process to --threads cores: this one is pytest's
        assert main(["bench", "--quick", "--components", "MultiHeadVer2", "--impls", "torch,nnx.jit,nnx",
                     "--no-sweep", "--loop-steps", "4", "--no-progress", "--out", str(tmp_path)]) == 0
    finally:
        if cores is not None:
            os.sched_setaffinity(0, cores)
    table = capsys.readouterr().out
    data = json.loads((tmp_path / "bench-cpu.json").read_text())
    got = {(m["impl"], m["mode"]) for m in data["measurements"]}
    # NNX without jit: the forward pass only, as --quick plans it (its training step compiles every primitive)
    assert got == {(i, md) for i in ("torch", "nnx.jit") for md in bench.MODES} | {("nnx", "forward")}
    for m in data["measurements"]:
        assert m["error"] is None, m
        assert m["first_call_s"] > 0 and len(m["times_s"]) == len(m["ratios"]) == m["repeats"] >= quick.repeats
        eager = next(e for e in data["measurements"] if e["impl"] == "torch" and e["mode"] == m["mode"])
        assert m["ratios"] == pytest.approx([r / t for r, t in zip(eager["times_s"], m["times_s"])], rel=1e-12)
    loops = {lp["loop"]: lp for lp in data["loops"]}
    assert list(loops) == list(quick.loops) and all(lp["error"] is None for lp in loops.values()), loops
    assert loops["nnx scan"]["compile_seconds"] > 0 and loops["nnx lesson scan"]["compile_seconds"] > 0
    assert set(loops["nnx scan"]["versus"]) == {"flax scan"}  # NNX fast / linen fast, round by round
    assert {"nnx scan / torch loop", "nnx scan / flax scan"} <= set(data["summary"]["headline"])
    assert "first nnx.jit" in table and "nnx lesson scan" in table and "nnx scan / flax scan" in table
    assert "not measured" not in table


def test_a_run_without_nnx_says_it_is_not_measured():
    """A result without any NNX figure (recorded before the bench measured NNX) is printed as it was, with one
    line saying NNX is not measured: no column or figure stands in for it."""
    result = {"measurements": [{"impl": "torch"}, {"impl": "jax.jit"}], "loops": [{"loop": "flax scan"}]}
    assert report.not_measured(result) == "NNX (nnx.jit, nnx, the nnx loops): not measured in this run"
    assert report.not_measured({"measurements": [{"impl": "nnx.jit"}], "loops": []}) is None
    assert report.not_measured({"measurements": [], "loops": [{"loop": "nnx scan"}]}) is None


def test_the_torch_runner_checks_ids_on_the_host_once_not_in_the_timed_call(monkeypatch):
    """As the trainers do: the ids are checked on the host when the call is built (a bad one refused there, with
    the models' own error), and no timed call reads them back (checks.ids_checked)."""
    from learngpt import checks
    from learngpt.config import Config
    from learngpt.errors import InputError
    from learngpt_lab.bench import runners
    device, cfg = setup_device("cpu"), TINY.config(Config())
    seen = []
    real = checks.check_token_ids
    monkeypatch.setattr(checks, "check_token_ids", lambda *a: (seen.append(a), real(*a))[1])
    for mode in bench.MODES:
        seen.clear()
        call = runners.torch_runner("NanoGPT", mode, cfg, device, compiled=False)
        assert len(seen) == 2  # x and the targets, on the host
        call()
        call()
        assert len(seen) == 2, mode  # the calls read no id back
    good = runners._inputs
    monkeypatch.setattr(runners, "_inputs", lambda *a: (lambda x, t: (x + cfg.vocab_size, t))(*good(*a)))
    with pytest.raises(InputError, match="outside the vocabulary"):
        runners.torch_runner("NanoGPT", "train", cfg, device, compiled=False)


def test_user_errors_are_one_line():
    """Each refused before the command changes anything in its process: its cores and its environment."""
    import os
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    environ = dict(os.environ)
    with pytest.raises(UserError, match="unknown implementations"):
        command.run(parser.parse_args(["--impls", "torch,tensorflow"]))
    with pytest.raises(UserError, match="unknown loops jax loop; expected a subset of torch loop,"):
        command.run(parser.parse_args(["--loops", "torch loop,jax loop"]))
    with pytest.raises(UserError, match="^--loops must include the torch loop: every loop's ratio is to it$"):
        command.run(parser.parse_args(["--loops", "flax scan,nnx scan"]))
    with pytest.raises(UserError, match="^--loop-steps must be >= 0, got -1$"):
        command.run(parser.parse_args(["--loop-steps", "-1"]))
    assert dict(os.environ) == environ
    if cores is not None:
        assert os.sched_getaffinity(0) == cores
    with pytest.raises(UserError, match="device must be cpu or gpu"):
        setup_device("tpu")


def test_gpu_request_without_a_gpu_says_so():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(UserError, match="--device gpu: torch sees no CUDA GPU"):
        setup_device("gpu")

"""The bench's JSON schema on a tiny run (never its timings), the table and plot, and its user errors."""
import argparse
import dataclasses
import json

import pytest

from learngpt.errors import UserError
from learngpt_lab.bench import plan as bench
from learngpt_lab.bench import report
from learngpt_lab.bench.run import run_bench
from learngpt_lab.bench.runners import setup_device
from learngpt_lab.commands import bench as command

# every kind of record, as little work as possible
TINY = bench.Size(2, 4, 8, 1, 2)
TINY_PLAN = bench.Plan(
    components=("MultiHeadVer2",), impls=("torch", "jax.jit", "jax"), compile_components=(), nojit_train_components=(),
    sweep=bench.sweep_points({}, (TINY,)), sweep_compile_axes=(), sweep_modes=("train",),
    sweep_impls=("torch", "jax.jit"),  # JAX op by op compiles every primitive once: the component covers it
    loop_steps=4, repeats=2, warmup=1, min_repeat_seconds=0.0, max_calls=1, component_size=TINY, loop_size=TINY)


@pytest.fixture(scope="module")
def result(corpus, tmp_path_factory):
    device = setup_device("cpu")
    out = run_bench(TINY_PLAN, device, corpus=corpus, progress=False)
    path = tmp_path_factory.mktemp("bench") / "bench-cpu.json"
    report.write_json(out, str(path))
    return json.loads(path.read_text()), out


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


def test_every_planned_measurement_is_recorded_with_its_fields(result):
    data, _ = result
    planned = bench.planned(TINY_PLAN)
    got = {(m["impl"], m["component"], m["mode"], tuple(m["size"].values())) for m in data["measurements"]}
    assert got == {(i, c, md, tuple(dataclasses.asdict(s).values()))
                   for i, c, md, s, _ in planned}
    fields = {f.name for f in dataclasses.fields(bench.Measurement)}
    for m in data["measurements"]:
        assert set(m) == fields
        assert m["error"] is None, m
        assert m["impl"] in bench.IMPLS and m["mode"] in bench.MODES
        assert set(m["size"]) == {"batch", "block_size", "embed_size", "n_layers", "n_heads"}
        assert len(m["times_s"]) == m["repeats"] == TINY_PLAN.repeats
        assert m["calls_per_repeat"] >= 1
        for key in ("first_call_s", "median_s", "p25_s", "p75_s", "min_s", "max_s", "speedup_vs_torch"):
            assert isinstance(m[key], float) and m[key] > 0, (key, m)
        assert m["min_s"] <= m["p25_s"] <= m["median_s"] <= m["p75_s"] <= m["max_s"]
        if m["impl"] == "torch":
            assert m["speedup_vs_torch"] == 1.0
    assert {m["axis"] for m in data["measurements"]} == {"components", "scale"}


def test_loops_are_the_three_trainers(result):
    data, _ = result
    assert [lp["loop"] for lp in data["loops"]] == list(bench.LOOPS)
    for lp in data["loops"]:
        assert lp["error"] is None, lp
        assert lp["steps"] == TINY_PLAN.loop_steps
        assert lp["steps_per_second"] > 0 and lp["compile_seconds"] >= 0
    assert data["loops"][0]["speedup_vs_torch"] == 1.0
    assert set(data["summary"]["loops_steps_per_second"]) == set(bench.LOOPS)


def test_table_and_plot(result, tmp_path):
    _, out = result
    table = report.format_table(out)
    assert "MultiHeadVer2" in table and "NanoGPT sweep" in table and "flax scan" in table
    png = tmp_path / "bench.png"
    report.plot(out, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_user_errors_are_one_line():
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    with pytest.raises(UserError, match="unknown implementations"):
        command.run(parser.parse_args(["--impls", "torch,tensorflow"]))
    with pytest.raises(UserError, match="device must be cpu or gpu"):
        setup_device("tpu")


def test_gpu_request_without_a_gpu_says_so():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(UserError, match="--device gpu: torch sees no CUDA GPU"):
        setup_device("gpu")

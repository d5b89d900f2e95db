"""The bench's JSON schema on a tiny run (never its timings), the table and plot, and its user errors."""
import argparse
import dataclasses
import json

import pytest

from learngpt.commands import bench as command
from parity import bench


@pytest.fixture(scope="module")
def result(corpus, tmp_path_factory):
    device = bench.setup_device("cpu")
    out = bench.run_bench(bench.TINY_PLAN, device, corpus=corpus, progress=False)
    path = tmp_path_factory.mktemp("bench") / "bench-cpu.json"
    bench.write_json(out, str(path))
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
    planned = bench.planned(bench.TINY_PLAN)
    got = {(m["impl"], m["component"], m["mode"], tuple(m["size"].values())) for m in data["measurements"]}
    assert got == {(i, c, md, tuple(dataclasses.asdict(s).values()))
                   for i, c, md, s, _ in planned}
    fields = {f.name for f in dataclasses.fields(bench.Measurement)}
    for m in data["measurements"]:
        assert set(m) == fields
        assert m["error"] is None, m
        assert m["impl"] in bench.IMPLS and m["mode"] in bench.MODES
        assert set(m["size"]) == {"batch", "block_size", "embed_size", "n_layers", "n_heads"}
        assert len(m["times_s"]) == m["repeats"] == bench.TINY_PLAN.repeats
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
        assert lp["steps"] == bench.TINY_PLAN.loop_steps
        assert lp["steps_per_second"] > 0 and lp["compile_seconds"] >= 0
    assert data["loops"][0]["speedup_vs_torch"] == 1.0
    assert set(data["summary"]["loops_steps_per_second"]) == set(bench.LOOPS)


def test_table_and_plot(result, tmp_path):
    _, out = result
    table = bench.format_table(out)
    assert "MultiHeadVer2" in table and "NanoGPT sweep" in table and "flax scan" in table
    png = tmp_path / "bench.png"
    bench.plot(out, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_user_errors_are_one_line():
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    with pytest.raises(ValueError, match="unknown implementations"):
        command.run(parser.parse_args(["--impls", "torch,tensorflow"]))
    with pytest.raises(ValueError, match="device must be cpu or gpu"):
        bench.setup_device("tpu")


def test_gpu_request_without_a_gpu_says_so():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(ValueError, match="--device gpu: torch sees no CUDA GPU"):
        bench.setup_device("gpu")

"""tools/ladder.py and its blocks in tools/docs.py, on synthetic measurements (never timed here): the paired
ratios between modes, the thread settings a child gets, and where the tables say jit stops paying."""
import pytest

from learngpt_lab import stats
from tools import docs, ladder


def loop(rates, ref_rates, error=None):
    ratios = [r / b for r, b in zip(rates, ref_rates)]
    return {"steps_per_second": sorted(rates)[len(rates) // 2], "rates": rates, "ratios": ratios,
            "interval": list(stats.median_interval(ratios)), "compile_seconds": 1.0, "rounds": len(rates),
            "segment_steps": 10, "flags": [], "reasons": [], "error": error, "gflops_per_second": 1.0,
            "peak_share": 0.5}


def rung(dims, gflop, speedups):
    """A rung whose modes run at torch eager's rate times speedups[mode], round by round, with a little noise."""
    ref = [10.0 * (1 + 0.01 * (i % 3)) for i in range(10)]
    rows = {"torch loop": loop(ref, ref)}
    for mode, k in speedups.items():
        rows[mode] = loop([r * k * (1 + 0.002 * (i % 2)) for i, r in enumerate(ref)], ref)
    return {"size": dims, "dropout": 0.0, "gflop_per_step": gflop, "loops": rows, "paired": ladder.paired(rows),
            "load_average": 1.0, "cpu_wait": 0.0, "seconds": 1.0}


def result():
    small = rung((32, 8, 16, 5, 8), 0.027, {"torch.compile loop": 1.5, "flax lesson scan": 4.0, "flax scan": 5.5})
    big = rung((12, 64, 256, 4, 8), 15.0, {"torch.compile loop": 1.3, "flax lesson scan": 1.05, "flax scan": 1.4})
    run = {"threads": 1, "device": "cpu", "matmul": {"numpy": 160.0, "jax": 150.0, "peak": 160.0},
           "rungs": {"curriculum": small, "wide": big}}
    return {"schema": "learngpt-ladder/1", "created": "2026-12-02T07:00:00+0000", "label": "synthetic",
            "command": "python tools/ladder.py", "wall_seconds": 1.0, "runs": [run],
            "machine": {"cpu_model": "a CPU", "cpus_usable": 2, "versions": {"torch": "t", "jax": "j"}},
            "settings": {"min_rounds": 6, "max_rounds": 30, "interval_limit": 0.1}}


def test_paired_ratios_between_modes_are_round_by_round():
    r = rung((1, 1, 1, 1, 1), 1.0, {"torch.compile loop": 2.0, "flax lesson scan": 3.0, "flax scan": 6.0})
    fast_vs_compile = r["paired"]["flax scan / torch.compile loop"]
    assert fast_vs_compile["median"] == pytest.approx(3.0, rel=1e-2) and fast_vs_compile["rounds"] == 10
    lo, hi = fast_vs_compile["interval"]
    assert lo <= fast_vs_compile["median"] <= hi
    assert set(r["paired"]) >= {"flax scan / flax lesson scan", "torch.compile loop / torch loop"}


def test_a_child_gets_its_threads_in_every_pool():
    env = ladder.thread_env(1)
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"]
    assert "--xla_cpu_multi_thread_eigen=true" in ladder.thread_env(4)["XLA_FLAGS"]


def test_the_table_says_where_jit_stops_paying(monkeypatch):
    monkeypatch.setattr(docs, "load", lambda name: result())
    table = docs.render("ladder:table")
    assert "| curriculum, B32 T8 C16 L5 H8 (0.027) | Flax fast | " in table
    assert "Flax jax.jit stops paying at wide (15 GFLOP a step)" in table  # 1.05x: inside 1.1
    assert "torch.compile pays at every rung" in table and "Flax fast pays at every rung" in table
    summary = docs.render("ladder:summary")
    assert summary.count("\n- ") == 2 and "torch.compile" in summary


def test_the_ladder_refuses_an_unknown_rung(capsys):
    with pytest.raises(SystemExit):
        ladder.main(["--rungs", "huge", "--out", "/dev/null"])
    assert "unknown rungs" in capsys.readouterr().err


def test_every_rung_is_a_valid_config():
    from learngpt.config import PRESETS, Config
    from learngpt_lab.bench.plan import Size
    for name, (dims, dropout, segment) in ladder.RUNGS.items():
        Size(*dims).config(Config(dropout=dropout))
        assert segment >= 1
    laptop = PRESETS["laptop"]
    assert ladder.RUNGS["laptop"][0] == (laptop["batch_size"], laptop["block_size"], laptop["embed_size"],
                                         laptop["n_layers"], laptop["n_heads"])

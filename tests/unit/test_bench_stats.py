"""The bench's method on synthetic timings, never on the machine: paired, interleaved repeats keep a ratio
within a few percent under a drifting load and a burst where medians of separately timed repeats do not, and
a figure whose interval stays wide is flagged with its reason. A fake clock stands in for time.perf_counter: each call
advances it by its true cost times the load at that moment."""
import math

import numpy as np
import pytest

from learngpt.config import Config
from learngpt_lab.bench import plan as bench
from learngpt_lab import stats
from learngpt_lab.bench import runners


class FakeClock:
    """time.perf_counter for the bench's code: only the fake calls move it."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drift(t: float) -> float:
    """The load slows everything by 1x at t=0 rising to 3x at t=30 s (another job ramping up)."""
    return 1.0 + 2.0 * min(t / 30.0, 1.0)


def burst(t: float) -> float:
    """An idle machine with a burst: 3x slower between 1 s and 5.5 s."""
    return 3.0 if 1.0 <= t < 5.5 else 1.0


def fake_call(clock: FakeClock, cost: float, load):
    def call() -> None:
        clock.now += cost * load(clock.now)
    return call


COSTS = {"torch": 4e-3, "jax.jit": 1e-3}  # the truth: jax.jit is 4x faster
CALLS = 100  # per repeat: 0.4 s and 0.1 s of work per repeat at no load


def sequential(clock, load, rounds):
    """The old bench: all repeats of one implementation, then all of the next; the ratio of the medians."""
    times = {}
    for impl, cost in COSTS.items():
        call = fake_call(clock, cost, load)
        times[impl] = [runners._repeat(call, CALLS) for _ in range(rounds)]
    return float(np.median(times["torch"]) / np.median(times["jax.jit"])), times


def interleaved(clock, load, rounds):
    """The bench's way (runners.measure_group's rounds): rotating rounds; the median of the paired ratios."""
    calls = [fake_call(clock, cost, load) for cost in COSTS.values()]
    ref, jit = [], []
    for r in range(rounds):
        for i in stats.rotation(2, r):
            (ref, jit)[i].append(runners._repeat(calls[i], CALLS))
    return stats.quartiles(stats.paired_ratios(ref, jit))[1], ref, jit


@pytest.mark.parametrize("load", [drift, burst], ids=["drifting load", "burst"])
def test_pairing_keeps_the_ratio_where_unpaired_medians_do_not(monkeypatch, load):
    truth = COSTS["torch"] / COSTS["jax.jit"]
    clock = FakeClock()
    monkeypatch.setattr(runners.time, "perf_counter", clock)
    unpaired, _ = sequential(clock, load, rounds=9)
    clock.now = 0.0
    paired, ref, jit = interleaved(clock, load, rounds=9)
    print(f"{load.__name__}: truth {truth:.2f}x, paired {paired:.3f}x, unpaired {unpaired:.3f}x")
    assert paired == pytest.approx(truth, rel=0.03)
    assert not unpaired == pytest.approx(truth, rel=0.10)
    # the load shows in the times themselves: each side alone spreads beyond the limit unpaired runs were held to
    for times in (ref, jit):
        assert stats.spread(times) > stats.SPREAD_LIMIT


def test_rotation_gives_every_implementation_every_place():
    orders = [stats.rotation(3, r) for r in range(3)]
    assert orders == [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
    assert all(sorted(o[i] for o in orders) == [0, 1, 2] for i in range(3))


def test_spread():
    steady = [1.00, 1.01, 0.99, 1.02, 1.00, 0.98, 1.01]
    assert stats.spread(steady) < 0.03
    assert stats.spread([1.0, 1.5, 0.7, 1.2, 0.9, 1.4, 0.8]) > stats.SPREAD_LIMIT
    # IQR / median, as stated: the middle half's width over the median
    assert stats.spread([0.96, 0.96, 1.0, 1.04, 1.04]) == pytest.approx(0.08)
    assert stats.spread([0.94, 0.94, 1.0, 1.06, 1.06]) == pytest.approx(0.12)
    with pytest.raises(ValueError, match="one time per round"):
        stats.paired_ratios([1, 2], [1])


def test_rounds_are_added_while_a_ratio_is_wide_and_only_a_wide_one_is_flagged(monkeypatch):
    """measure_group with fake implementations: a burst that slows the first rounds disturbs at most the ratio of
    the round it starts or ends in; a few rounds more put that one outside the median's interval, which comes
    out exact and unflagged; a jitted implementation whose
    cost alternates between 1x and 1.5x keeps its ratio's interval wide, so rounds are added up to the cap and
    the figure is flagged ('interval', with a reason), the steady reference not."""
    clock = FakeClock()
    monkeypatch.setattr(runners.time, "perf_counter", clock)
    monkeypatch.setattr(stats, "load_average", lambda: 1.0)
    monkeypatch.setattr(stats, "run_delay_seconds", lambda: 0.0)

    def flaky(t):  # a burst early on: both sides of the first rounds run 3x slower
        return 3.0 if 0.1 <= t < 0.2 else 1.0
    costs = {"torch": 4e-3, "jax.jit": 1e-3}
    monkeypatch.setattr(runners, "make_runner",
                        lambda impl, *a: fake_call(clock, costs[impl], flaky))
    plan = bench.Plan(repeats=7, warmup=1, min_repeat_seconds=0.02, max_calls=100, max_rounds=25,
                      budget_seconds=1e9)
    size = bench.CURRICULUM
    got = runners.measure_group([("torch", "components"), ("jax.jit", "components")], "NanoGPT", "forward", size,
                                Config(), None, plan)
    by = {m.impl: m for m in got}
    assert not by["jax.jit"].unstable and by["jax.jit"].flags == []
    assert plan.repeats <= by["jax.jit"].attempts < plan.max_rounds
    assert by["jax.jit"].speedup_vs_torch == pytest.approx(4.0, rel=1e-9)
    assert by["jax.jit"].interval == pytest.approx([4.0, 4.0], rel=1e-9)

    # noisy in every round: the jitted implementation's cost alternates between 1x and 1.5x
    clock.now = 0.0
    state = {"n": 0}

    def noisy_jit():
        state["n"] += 1
        clock.now += costs["jax.jit"] * (1.5 if (state["n"] // 20) % 2 else 1.0)
    monkeypatch.setattr(runners, "make_runner",
                        lambda impl, *a: noisy_jit if impl == "jax.jit" else fake_call(clock, costs[impl],
                                                                                         lambda t: 1.0))
    got = runners.measure_group([("torch", "components"), ("jax.jit", "components")], "NanoGPT", "forward", size,
                                Config(), None, plan)
    by = {m.impl: m for m in got}
    assert by["jax.jit"].attempts == by["jax.jit"].repeats == plan.max_rounds
    assert by["jax.jit"].unstable and by["jax.jit"].flags == ["interval"] and by["jax.jit"].reasons
    assert not by["torch"].unstable
    assert all(math.isfinite(v) for v in by["jax.jit"].ratios)


def test_load_meter_reads_the_machine():
    meter = stats.LoadMeter(own_threads=1).start()
    load = meter.stop(wall_seconds=1.0)
    assert load.cores == stats.usable_cores() >= 1
    assert load.load_average is None or load.load_average >= 0
    assert load.cpu_wait is None or load.cpu_wait >= 0


def test_calls_per_repeat_are_sized_from_the_fastest_warm_up_call(monkeypatch):
    """A first warm-up call still slow (allocations, a lazy second compile) must not make every repeat a single
    call of a few milliseconds."""
    from learngpt_lab.bench import runners
    durations = iter([0.5, 0.2, 0.001, 0.001])  # the compiling call, a slow warm-up call, two warm ones
    clock = [0.0]

    def call():
        clock[0] += next(durations)
    monkeypatch.setattr(runners.time, "perf_counter", lambda: clock[0])
    first, calls = runners._first_and_calls(call, warmup=3, min_repeat_seconds=0.05, max_calls=200)
    assert (first, calls) == (0.5, 50)

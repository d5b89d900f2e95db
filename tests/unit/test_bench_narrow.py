"""Adaptive pairing (learngpt_lab.stats.until_narrow) on synthetic timings, never on the machine: the median's
interval holds the true ratio as often as it says, rounds are added while it is wide and stop once it is
narrow, and under a load that comes and goes only a figure that stays wide is flagged."""
import numpy as np
import pytest

from learngpt_lab import stats


@pytest.mark.parametrize("n", [6, 10, 15, 40])
def test_the_median_interval_covers_at_least_95_percent(n):
    rng = np.random.default_rng(n)
    true = np.log(2)  # the median of Exp(1): a skewed distribution, as times under load are
    misses = sum(not (lo <= true <= hi) for lo, hi in (stats.median_interval(rng.exponential(size=n))
                                                         for _ in range(4000)))
    assert misses / 4000 <= 0.05 + 0.01  # 0.01: the sampling error of 4000 trials, three sigma


def test_the_interval_is_order_statistics_and_below_six_values_the_range():
    assert stats.median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0)
    assert stats.median_interval(list(range(10))) == (1.0, 8.0)  # 2 P(B(10, 1/2) <= 1) = 2.1 % <= 5 %
    assert stats.median_interval(list(range(20))) == (5.0, 14.0)
    assert stats.interval_width([1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) == 0.0


def synthetic(load, noise=0.02, seed=0):
    """one_round for until_narrow: a reference at 10 ms and a 4x faster figure, both multiplied by the same
    load factor of the round (what a busy machine does to two paired segments), with independent noise."""
    rng = np.random.default_rng(seed)

    def one_round(r):
        f = load(r)
        return {"ref": 0.010 * f * (1 + noise * rng.standard_normal()),
                "fast": 0.0025 * f * (1 + noise * rng.standard_normal())}
    return one_round


def test_a_steady_machine_stops_at_the_minimum_and_flags_nothing():
    rounds, _, figures = stats.until_narrow(synthetic(lambda r: 1.0), "ref", 1, min_rounds=10, max_rounds=50)
    assert rounds == 10
    assert figures["fast"].flags == [] and figures["ref"].flags == []
    lo, hi = figures["fast"].interval
    assert lo <= 4.0 <= hi and (hi - lo) / 4.0 <= stats.INTERVAL_LIMIT


def test_a_load_that_comes_and_goes_keeps_the_ratio_unflagged_and_the_time_flagged():
    """Every other round runs 3x slower (a hog sharing the core): the times spread, the paired ratio does not.
    The ratio comes out narrow and unflagged; the reference's time stays wide, and only it is flagged."""
    burst = lambda r: 3.0 if r % 2 else 1.0  # noqa: E731
    rounds, _, figures = stats.until_narrow(synthetic(burst), "ref", 1, headline=("fast",), min_rounds=6,
                                            max_rounds=30)
    assert figures["fast"].flags == [] and 3.8 <= np.median(figures["fast"].ratios) <= 4.2
    assert figures["ref"].flags == ["interval"] and figures["ref"].reasons
    assert rounds < 30  # the headline, the ratio, was narrow: no rounds wasted on the time


def test_rounds_are_added_while_the_ratio_is_wide_up_to_the_cap():
    """Noise of 30 % on each side: the interval narrows as rounds are added, and stops at max_rounds if it
    never gets narrow enough, flagged with its reason."""
    rounds, _, figures = stats.until_narrow(synthetic(lambda r: 1.0, noise=0.3), "ref", 1, min_rounds=6,
                                            max_rounds=12)
    assert rounds == 12 and len(figures["fast"].ratios) == 12
    assert figures["fast"].flags == ["interval"] and "95 % interval" in figures["fast"].reasons[0]
    more, _, wider = stats.until_narrow(synthetic(lambda r: 1.0, noise=0.3, seed=1), "ref", 1, min_rounds=6,
                                        max_rounds=400)
    assert 12 < more < 400 and wider["fast"].flags == []  # narrow in the end: enough rounds were added


def test_the_budget_stops_the_rounds(monkeypatch):
    """Each round takes a second of a fake clock: a 10 s budget ends the rounds at 10, wide or not."""
    now = [0.0]
    monkeypatch.setattr(stats.time, "perf_counter", lambda: now[0])
    inner = synthetic(lambda r: 1.0, noise=0.3)

    def one_round(r):
        now[0] += 1.0
        return inner(r)
    rounds, _, figures = stats.until_narrow(one_round, "ref", 1, min_rounds=6, max_rounds=400, budget_seconds=10.0)
    assert rounds == 10 and figures["fast"].flags == ["interval"]

"""learngpt.training.run_chunks, the loop every trainer shares: the seed's schedule, the finite check, the
history and its clocks, with no framework in sight."""
import math

import pytest

from learngpt.config import Config
from learngpt.errors import DivergedError
from learngpt.training import History, last_evaluation_only, run_chunks

CFG = Config()  # its max_iters and eval_interval are what a None asks for


def fake(losses_by_step, seconds=0.5):
    calls = []

    def evaluate():
        calls.append(("eval",))
        return 2.0, 3.0

    def train_chunk(start, stop):
        calls.append(("chunk", start, stop))
        return [losses_by_step(i) for i in range(start, stop)], seconds
    return calls, evaluate, train_chunk


def test_evaluations_before_every_chunk_and_after_the_last():
    calls, evaluate, train_chunk = fake(lambda i: 1.0 / (i + 1))
    history = run_chunks(History("x"), CFG, 7, 3, evaluate, train_chunk)
    assert calls == [("eval",), ("chunk", 0, 3), ("eval",), ("chunk", 3, 6), ("eval",), ("chunk", 6, 7), ("eval",)]
    assert [e.step for e in history.evals] == [0, 3, 6, 7]
    assert history.step_losses == [1.0 / (i + 1) for i in range(7)] and history.steps == 7
    assert history.train_seconds == pytest.approx(1.5)  # what each chunk reported, nothing else
    assert history.eval_seconds >= 0 and history.final.val_loss == 3.0


def test_last_evaluation_only_keeps_the_chunks_and_evaluates_after_the_last():
    calls, evaluate, train_chunk = fake(lambda i: 1.0 / (i + 1))
    with last_evaluation_only():
        history = run_chunks(History("x"), CFG, 7, 3, evaluate, train_chunk)
    assert calls == [("chunk", 0, 3), ("chunk", 3, 6), ("chunk", 6, 7), ("eval",)]
    assert [e.step for e in history.evals] == [7] and history.step_losses == [1.0 / (i + 1) for i in range(7)]
    calls.clear()
    run_chunks(History("x"), CFG, 7, 3, evaluate, train_chunk)  # outside it: every evaluation again
    assert calls.count(("eval",)) == 4


def test_no_schedule_given_is_the_configs():
    calls, evaluate, train_chunk = fake(lambda i: 1.0)
    history = run_chunks(History("x"), Config(max_iters=5, eval_interval=2), None, None, evaluate, train_chunk)
    assert [c for c in calls if c[0] == "chunk"] == [("chunk", 0, 2), ("chunk", 2, 4), ("chunk", 4, 5)]
    assert history.steps == 5 and len(history.evals) == 4


def test_no_steps_is_one_evaluation():
    calls, evaluate, train_chunk = fake(lambda i: 1.0)
    history = run_chunks(History("x"), CFG, 0, 5, evaluate, train_chunk)
    assert calls == [("eval",)] and history.steps == 0 and len(history.evals) == 1


def test_a_diverged_chunk_stops_the_run_naming_the_step():
    calls, evaluate, train_chunk = fake(lambda i: math.nan if i == 4 else 1.0)
    history = History("x")
    with pytest.raises(DivergedError, match="at step 4"):
        run_chunks(history, CFG, 9, 3, evaluate, train_chunk)
    assert history.steps == 3 and len(history.step_losses) == 3  # the bad chunk is not recorded
    assert calls[-1] == ("chunk", 3, 6)


def test_a_diverged_evaluation_stops_the_run():
    history = History("x")
    with pytest.raises(DivergedError, match="evaluation loss"):
        run_chunks(history, CFG, 3, 3, lambda: (1.0, math.inf), lambda a, b: ([1.0] * (b - a), 0.0))

"""The speed questions measure in a fresh process with the allocator pinned (learngpt_lab/questions/timing.py):
test_7's v1/v2 figure is the same whatever this process did before it, and the pinning itself holds against
an allocator told to do the opposite."""
import os

import numpy as np
import pytest

from learngpt_lab import stats
from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.training import eval_data
from learngpt_lab import backends, questions
from learngpt_lab.questions import timing, week2
from learngpt_lab.threads import threads

SPEED = "test_multi_head_ver_2_is_faster_than_ver_1"
AGREE = 1.25  # the bound: the figures of one measurement in different orders agree within 25 %
RATIO = "v1/v2 op by op (median of paired runs)"


def _figure() -> float:
    result = questions.ask(SPEED, backends.get("torch"))
    assert result.holds, result.claim
    return result.numbers[RATIO][0]


def _train_a_little(corpus) -> None:
    """A training question's kind of work, in this process: NanoGPT, 60 AdamW steps."""
    backend = backends.get("torch")
    cfg = Config(eval_iters=2)
    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed=0)
    model = backend.create(NANOGPT.recipe(cfg), np.zeros((1, cfg.block_size), np.int64))
    backend.train(model, cfg, sampler, eval_data(sampler, cfg), max_iters=60, eval_interval=60)


@pytest.mark.timing
def test_the_multi_head_speed_figure_does_not_depend_on_what_ran_before(corpus, monkeypatch):
    figures = {"alone": _figure()}
    _train_a_little(corpus)
    figures["after training"] = _figure()
    with threads(2, xla=False):  # a test that changed torch's threads and has not restored them yet
        figures["after set_num_threads(2)"] = _figure()
    # the allocator's settings are inherited through the environment: the child's pinning must override them
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "32768")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    figures["allocator told to mmap and trim"] = _figure()
    print(figures)
    assert max(figures.values()) / min(figures.values()) <= AGREE, figures
    assert min(figures.values()) >= week2.SPEED_MARGIN, figures


def test_the_child_reports_its_conditions():
    timed = timing.paired_forward_times(backends.get("torch"), [("HeadVer2", (8, 16)), ("HeadVer3", (8, 16))],
                                        (2, 8, 16), calls=2, rounds=3, modes=("op by op", "jitted"))
    assert timed["allocator_pinned"] is (os.uname().sysname == "Linux")
    assert list(timed["modes"]) == ["op by op"]  # torch does not compile here: no jitted mode
    mode = timed["modes"]["op by op"]
    assert [len(t) for t in mode["times"]] == [3, 3] and all(t > 0 for ts in mode["times"] for t in ts)
    assert [len(f) for f in mode["faults"]] == [3, 3] and all(f >= 0 for fs in mode["faults"] for f in fs)
    assert stats.paired_ratios(*mode["times"]) == [a / b for a, b in zip(*mode["times"])]


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown timing mode 'compiled'"):
        timing.paired_forward_times(backends.get("torch"), [("HeadVer2", (8, 16))], (2, 8, 16), 1, 1,
                                    modes=("compiled",))

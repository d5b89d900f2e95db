"""The torch reference reads nothing back from the device inside a training step: the trainer checks each
batch's token ids on the host, in numpy, before they reach the device, and runs its steps inside
learngpt.checks.ids_checked, where a model's forward does not read its ids back. One eager step makes no host
synchronisation, a chunk of k steps makes one (its losses read together), an evaluation one (its mean), and
generating n tokens reads the prompt's ids once, whatever n.

Counted by wrapping every Tensor method that hands a tensor's values to Python (READS). AdamW's step counters
are left out: torch keeps them on the CPU (unless capturable or fused) and reads them every step, which is no
synchronisation on any device."""
from contextlib import contextmanager

import numpy as np
import pytest
import torch

import learngpt_torch
from learngpt import checks
from learngpt.components import Architecture
from learngpt.config import Config
from learngpt.data import BatchSampler
from learngpt.errors import InputError
from learngpt.training import eval_data
from learngpt_torch import trainer
from learngpt_torch.optim import make_optimizer

READS = ("item", "tolist", "numpy", "cpu", "__int__", "__index__", "__float__", "__bool__")
CFG = Config(n_layers=2, eval_iters=2, dropout=0.1)  # dropout on: the step as training runs it
ARCHITECTURES = [Architecture(), Architecture("GPTVer3", "BlockVer4", 2, "MultiHeadVer1")]  # ...V1: HeadVer4s


@contextmanager
def reads(monkeypatch, optimizers=()):
    """A list that collects (method, phase) for each read of a tensor's values made inside the block; the phase
    is the name on top of `phases`, which a test pushes to while it runs one part of the trainer."""
    found, phases, depth = [], ["step"], [0]

    def is_step_counter(t) -> bool:
        return any(t is s.get("step") for opt in optimizers for s in opt.state.values())

    for name in READS:
        original = getattr(torch.Tensor, name)

        def read(self, *args, _name=name, _original=original, **kwargs):
            if depth[0] == 0 and not is_step_counter(self):  # one read: a read made inside it (int -> item) is the same
                found.append((_name, phases[-1]))
            depth[0] += 1
            try:
                return _original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
        monkeypatch.setattr(torch.Tensor, name, read)
    try:
        yield found, phases
    finally:
        monkeypatch.undo()


def gpt(arch, corpus, vocab_size=None):
    torch.manual_seed(0)
    return arch.build(learngpt_torch, CFG.replace(vocab_size=vocab_size or corpus.tokenizer.vocab_size))


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: f"{a.gpt}-{a.head}")
def test_a_training_step_reads_nothing_back(monkeypatch, corpus, arch):
    model = gpt(arch, corpus).train()
    optimizer = make_optimizer(model, CFG)
    step = trainer.make_step(model, optimizer)
    sampler = BatchSampler(corpus, CFG.batch_size, CFG.block_size, CFG.seed)
    batches = [tuple(torch.as_tensor(a) for a in sampler.sample("train")) for _ in range(3)]
    with reads(monkeypatch, [optimizer]) as (found, _), checks.ids_checked():
        losses = [step(x, y) for x, y in batches]
    assert found == [], f"a step read {len(found) / 3:g} times per step: {found}"
    assert all(torch.isfinite(loss) for loss in losses)


@pytest.mark.parametrize("k", [1, 5])
def test_a_chunk_of_k_steps_reads_once(monkeypatch, corpus, k):
    """trainer.train with one chunk: one read for the chunk's k losses, one per evaluation (before and after)."""
    model = gpt(Architecture(), corpus)
    sampler = BatchSampler(corpus, CFG.batch_size, CFG.block_size, CFG.seed)
    evals = eval_data(sampler, CFG)
    optimizers = []
    real_make_optimizer, real_evaluate = trainer.make_optimizer, trainer.evaluate

    def make_optimizer_seen(model, cfg):
        optimizers.append(real_make_optimizer(model, cfg))
        return optimizers[-1]

    with reads(monkeypatch, optimizers) as (found, phases):
        def evaluate(*args):
            phases.append("evaluation")
            try:
                return real_evaluate(*args)
            finally:
                phases.pop()
        monkeypatch.setattr(trainer, "make_optimizer", make_optimizer_seen)
        monkeypatch.setattr(trainer, "evaluate", evaluate)
        history = trainer.train(model, CFG, sampler, evals, max_iters=k, eval_interval=k)
    in_steps = [r for r in found if r[1] == "step"]
    in_evaluations = [r for r in found if r[1] == "evaluation"]
    assert len(in_steps) == 1, f"a chunk of {k} steps read {len(in_steps)} times: {in_steps}"
    assert len(in_evaluations) == 4, f"4 evaluations read {len(in_evaluations)} times: {in_evaluations}"
    assert history.steps == k and len(history.step_losses) == k


def test_generate_reads_the_prompt_once(monkeypatch, corpus):
    model = gpt(Architecture(), corpus).eval()
    prompt = torch.zeros((2, 3), dtype=torch.int64)
    counts = {}
    for n in (1, 10):
        with reads(monkeypatch) as (found, _):
            out = model.generate(prompt, n, generator=torch.Generator().manual_seed(0))
        counts[n] = len(found)
        assert out.shape == (2, 3 + n)
    assert counts[10] == counts[1] <= 2, f"reads per generate call, by tokens generated: {counts}"


def test_ids_checked_is_undone_on_leaving_nested_or_raising():
    assert checks.ids_to_check()
    with pytest.raises(RuntimeError):
        with checks.ids_checked():
            with checks.ids_checked():
                assert not checks.ids_to_check()
            assert not checks.ids_to_check()
            raise RuntimeError
    assert checks.ids_to_check()


def test_the_trainer_checks_every_batch_on_the_host(corpus):
    """A model of a smaller vocabulary than the corpus's: the first training batch with an id past it is
    refused with the model's own message, before it reaches the device (the evaluation batches, clipped, pass)."""
    vocab = corpus.tokenizer.vocab_size - 20
    cfg = CFG.replace(vocab_size=vocab)
    model = gpt(Architecture(), corpus, vocab)
    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, cfg.seed)
    evals = {split: tuple(np.minimum(a, vocab - 1) for a in pair) for split, pair in eval_data(sampler, cfg).items()}
    with pytest.raises(InputError, match=rf"^token id \d+ is outside the vocabulary; expected ids in \[0, {vocab}\)"):
        trainer.train(model, cfg, sampler, evals, max_iters=50, eval_interval=50)
    evals["val"][0][0, 0, 3] = vocab
    with pytest.raises(InputError, match=rf"^token id {vocab} is outside the vocabulary"):
        trainer.train(model, cfg, sampler, evals, max_iters=1, eval_interval=1)

"""Week 1's questions (tests/test_1.py .. test_6.py), from the bigram to GPTVer3.

What week 1 trains with (Profile.week1_*):
- the curriculum's config (batch 32, block_size 8, embed_size 16) with learning_rate 1e-2, the value of Karpathy's
  bigram.py that week 1 follows: at 1e-3 an N(0, 1)-initialised bigram table moves 0.001 per step and needs
  thousands of steps to leave the uniform baseline. The `seed` profile trains as the curriculum's reference
  tests did: learning_rate 1e-3, embed_size 32, 5000 steps;
- default 500 steps, full and seed 5000, the same for every arm, 3 seeds, the mean and the majority judged.
  Runs are cached by what determines them (learngpt_lab/questions/training.py): the bigram trained for
  test_1 is the baseline of test_2, and the GPTVer2 runs of test_2 and test_5 are shared with test_6.
The original tests of test_1, test_2, test_5 and test_6 trained one model on one seed and compared 30
generated characters with a recorded sample; here each is a claim about the trained models that can fail.
Speed questions time the random (4, 128, 1024) input over 10 calls, torch eager, Flax jitted (compiled
before the clock starts), in a fresh process (learngpt_lab/questions/timing.py); the two heads run in turn and
the ratio is the median of the paired runs.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from learngpt import components
from learngpt_lab import stats
from learngpt.config import Config
from learngpt.data import BatchSampler, Corpus
from learngpt.positions import PROPERTIES, VERSIONS, properties
from learngpt.training import eval_data, last_evaluation_only
from learngpt_lab.questions import Experiment, Profile, Result, num, question, timing
from learngpt_lab.questions.training import LEARNED_MARGIN, Trial, both, lower, trial

SPEED_SHAPE = (4, 128, 1024)  # the random input of the speed questions
SPEED_CALLS = 10
SPEED_ROUNDS = 3  # paired runs (HeadVer1, the other) per speed question
CFG = Config()  # the curriculum's sizes (block_size 8, embed_size 16): the shapes of the equality checks
SMALL_SHAPE = (4, CFG.block_size, CFG.embed_size)  # the random input of the equality and attention checks
EQUAL_BOUND = 1e-6  # float32: max abs difference between two heads that compute the same running mean
SUMS_BOUND = 1e-6  # float32: max |row sum - 1| of attention weights
UNIFORM_MARGIN = 1.0  # nats: how far under a uniform guess's loss the trained bigram must end
GENERATED = 200  # characters the generation question samples per model

ENCODING_LENGTHS = (8, 16)  # the sequence lengths the encodings are read at
# What week 1 teaches about its four position encodings: which of the four properties each one has.
EXPECTED_PROPERTIES = {
    1: {"distinct": True, "bounded": False, "length_independent": True, "equally_spaced": True},
    2: {"distinct": True, "bounded": True, "length_independent": False, "equally_spaced": True},
    3: {"distinct": True, "bounded": True, "length_independent": True, "equally_spaced": False},
    4: {"distinct": True, "bounded": True, "length_independent": True, "equally_spaced": True},
}


def _week1(prof: Profile) -> dict:
    """Week 1's config changes: its learning rate and width (module docstring)."""
    return {"learning_rate": prof.week1_learning_rate, "embed_size": prof.week1_embed_size}


def _trial(prof: Profile, arms: tuple[str, ...], claim) -> Trial:
    """Every arm (a registry language model) trained once per seed with week 1's setup; final val loss."""
    return Trial({name: components.get(name).architecture for name in arms}, prof.week1_max_iters, claim,
                 cfg_changes=_week1(prof))


def _small_input(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(SMALL_SHAPE).astype(np.float32)


def _max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


# ---------------------------------------------------------------------------------------------------
# test_1: the bigram

@question("test_gpt_ver_1_beats_the_uniform_baseline", "test_1", trains=True,
          asks="Does the bigram model (GPTVer1) learn anything from the corpus?",
          answer="Yes: reading the next character's logits off the current character's row takes the loss from\n"
                 "ln(65) = 4.17 (a uniform guess) to about 2.5: which character follows which is most of what it "
                 "knows.",
          experiment=lambda prof: replace(
              _trial(prof, ("GPTVer1",), None).describe(prof),
              claim=f"GPTVer1's mean val loss at least {num(UNIFORM_MARGIN)} nat under ln(vocab size), a uniform "
                    "guess's loss (ln 65 = 4.17 on tiny-shakespeare)",
              bound=f"the margin, {num(UNIFORM_MARGIN)} nat; guard: every arm learned (mean val loss at least "
                    f"{LEARNED_MARGIN} nats under the corpus's unigram baseline)"))
def bigram_beats_uniform(backend, prof: Profile, corpus: Corpus) -> Result:
    """GPTVer1 trained on tiny-shakespeare ends at least 1 nat under ln(vocab), the loss of a uniform guess
    (mean final validation loss over 3 seeds; same batches and evaluation batches on both backends)."""
    uniform = math.log(corpus.tokenizer.vocab_size)

    def claim(numbers):
        mean = float(np.mean(numbers["GPTVer1"]))
        return mean < uniform - UNIFORM_MARGIN, (f"mean val loss {mean:.4f} vs uniform ln("
                                                 f"{corpus.tokenizer.vocab_size}) = {uniform:.4f} (claim: at least "
                                                 f"{num(UNIFORM_MARGIN)} nat under)"), mean - uniform
    result = _trial(prof, ("GPTVer1",), claim).run(backend, prof, corpus)
    result.numbers["uniform baseline ln(vocab)"] = [uniform]
    return result


@question("test_gpt_ver_1_generates_characters_from_the_vocabulary", "test_1", trains=True,
          asks="Can GPTVer1 generate text?",
          answer="Yes, character by character from the last one only: the requested number of characters, all from\n"
                 "the vocabulary, following Shakespeare's letter pairs (far likelier under the corpus's bigram "
                 "statistics than an untrained model's), but no words: one character of context is too little.",
          experiment=lambda prof: Experiment(
              f"{GENERATED} characters sampled from a newline by GPTVer1 trained as in test_1 vs the same GPTVer1 "
              "untrained, scored by the corpus's own bigram statistics",
              f"{prof.week1_max_iters} AdamW steps at lr {num(prof.week1_learning_rate)}, embed_size "
              f"{prof.week1_embed_size}; seeds " + ", ".join(map(str, prof.seeds)),
              f"exactly {GENERATED} new ids, each in the vocabulary; the trained sample likelier per character than "
              "the untrained one on every seed",
              "exact: the length, the range, and trained > untrained on each seed"))
def bigram_generates(backend, prof: Profile, corpus: Corpus, new_tokens: int = GENERATED) -> Result:
    """Per seed, a bigram trained as in test_1 and the same bigram untrained each sample 200 characters from a
    newline: exactly 200 new ids, each in the vocabulary; and the trained sample is likelier per character
    under the corpus's own bigram statistics than the untrained one (mean and every seed). The original test
    compared 30 characters with a recorded sample; an untrained model passes a length-and-range check."""
    start = corpus.tokenizer.encode("\n")[None, :]  # (1, 1)
    trained_ll, untrained_ll, shapes_ok, sample = [], [], True, ""
    for seed in prof.seeds:
        cfg = prof.cfg(seed, **_week1(prof))
        recipe = components.get("GPTVer1").architecture.recipe(cfg)
        example = np.zeros((1, cfg.block_size), np.int64)
        untrained = backend.create(recipe, example, seed=cfg.seed)
        model = backend.create(recipe, example, seed=cfg.seed)
        sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed=cfg.seed)
        with last_evaluation_only():  # no evaluation is read: the samples are
            backend.train(model, cfg, sampler, eval_data(sampler, cfg, 1), max_iters=prof.week1_max_iters,
                          eval_interval=prof.week1_max_iters)
        for m, scores in ((model, trained_ll), (untrained, untrained_ll)):
            out = backend.complete(m, start, new_tokens, seed=seed)  # (1, 1 + new_tokens)
            ok = out.shape == (1, 1 + new_tokens) and out.min() >= 0 and out.max() < corpus.tokenizer.vocab_size
            shapes_ok = shapes_ok and bool(ok)
            scores.append(corpus.bigram_log_likelihood(out[0]) if ok else float("-inf"))
            if m is model and not sample and ok:
                sample = corpus.tokenizer.decode(out[0])
    t, u = np.asarray(trained_ll), np.asarray(untrained_ll)
    holds = shapes_ok and bool(np.all(t > u))
    return Result({"trained sample: corpus bigram log-likelihood per char": list(t),
                   "untrained sample: corpus bigram log-likelihood per char": list(u)}, holds,
                  f"{new_tokens} new ids in [0, {corpus.tokenizer.vocab_size}) per seed: {shapes_ok}; the trained "
                  f"bigram's sample is likelier under the corpus's letter pairs ({t.mean():.3f} vs {u.mean():.3f} "
                  f"nats per character) on {int((t > u).sum())} of {len(t)} seeds",
                  prof.seeds, notes=["seed 0 sample: " + repr(sample)])


# ---------------------------------------------------------------------------------------------------
# test_2: averaging the past with loops, and what it buys a language model

@question("test_head_ver_1_averages_the_past", "test_2",
          asks="What does HeadVer1 compute?",
          answer="Each position's output is the mean of the inputs up to and including it: the simplest way to let a\n"
                 "token see its past, written as a loop over positions.",
          experiment=Experiment("HeadVer1's output vs the running mean written out",
                                "the input [[1,2,3],[4,5,6],[7,8,9]] (one sequence of 3 tokens, 3 features), float32",
                                "HeadVer1 gives [[1,2,3],[2.5,3.5,4.5],[4,5,6]]",
                                f"max abs difference < {num(EQUAL_BOUND)}"))
def head_v1_example(backend, prof: Profile | None = None, corpus=None) -> Result:
    """HeadVer1 on [[1,2,3],[4,5,6],[7,8,9]] gives [[1,2,3],[2.5,3.5,4.5],[4,5,6]] (within 1e-6)."""
    x = np.array([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], dtype=np.float32)  # (1, 3, 3)
    want = np.array([[[1, 2, 3], [2.5, 3.5, 4.5], [4, 5, 6]]], dtype=np.float32)
    head = backend.create(lambda lib: lib.HeadVer1(3, 3), x)
    got = backend.forward(head, x)
    diff = _max_diff(got, want)
    return Result({"max |got - want|": [diff]}, diff < EQUAL_BOUND,
                  f"HeadVer1([[1,2,3],[4,5,6],[7,8,9]]) = {got[0].tolist()}")


@question("test_gpt_ver_2_with_head_ver_1_beats_the_bigram", "test_2", trains=True,
          asks="Does GPTVer2 with HeadVer1 do better than the bigram? (our question: the original test compared 30 "
               "characters GPTVer2(HeadVer1) generated with a recorded sample)",
          answer="No: a uniform average over the past blurs the most informative token, the last one, with all the\n"
                 "others, and there is no position to tell them apart; the bigram reads the last token exactly.")
@trial
def gpt_v2_head_v1_vs_bigram(prof: Profile) -> Trial:
    """GPTVer2 with HeadVer1 reaches a lower validation loss than GPTVer1 after the same training (mean and most
    seeds). Not the curriculum's claim: the curriculum says nothing of it, and the original test compared generated
    text with a recorded sample. It is the question a learner asks of that sample, and its answer is no; the
    guards (both arms learned) make that "no" unable to pass on a broken model."""
    return _trial(prof, ("GPTVer2(HeadVer1)", "GPTVer1"), lower("GPTVer2(HeadVer1)", "GPTVer1"))


# ---------------------------------------------------------------------------------------------------
# test_3 and test_4: the same average as a matrix, then as a masked softmax

def _speed_input() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(SPEED_SHAPE).astype(np.float32)


def equals_head_v1(backend, name: str) -> Result:
    x = _small_input()
    v1 = backend.create(lambda lib: lib.HeadVer1(CFG.block_size, CFG.embed_size), x)
    other = backend.create(lambda lib: getattr(lib, name)(CFG.block_size, CFG.embed_size), x)
    diff = _max_diff(backend.forward(other, x), backend.forward(v1, x))
    return Result({f"max |{name} - HeadVer1|": [diff]}, diff <= EQUAL_BOUND,
                  f"random {x.shape}: max abs diff {diff:.2e} (bound {num(EQUAL_BOUND)}, float32)")


def _equals_experiment(name: str) -> Experiment:
    return Experiment(f"{name}'s output vs HeadVer1's (the loop)",
                      f"standard-normal input of shape {SMALL_SHAPE} (the curriculum's block_size and embed_size), "
                      "float32", "the same outputs", f"max abs difference <= {num(EQUAL_BOUND)}")


def _faster_experiment(name: str) -> Experiment:
    return Experiment(f"forward time of HeadVer1 vs {name} (HeadVer1/{name}, the median of paired runs)",
                      f"standard-normal input of shape {SPEED_SHAPE}; {SPEED_ROUNDS} rounds of {SPEED_CALLS} forward "
                      "calls, in turn, in a fresh process on one thread; torch eager, "
                      + " and ".join(n for n, jits in timing.COMPILES.items() if jits) + " jitted",
                      f"{name} is faster", f"HeadVer1/{name} > 1")


def faster_than_head_v1(backend, name: str) -> Result:
    """HeadVer1 and `name` timed in turn in a fresh process (learngpt_lab/questions/timing.py), SPEED_ROUNDS
    rotating rounds of SPEED_CALLS calls, jitted on a compiling backend: the median of the paired ratios
    HeadVer1/`name` must exceed 1."""
    B, T, C = SPEED_SHAPE
    mode = "jitted" if timing.COMPILES[backend.name] else "op by op"
    times = timing.paired_forward_times(backend, [("HeadVer1", (T, C)), (name, (T, C))], SPEED_SHAPE,
                                        SPEED_CALLS, SPEED_ROUNDS, modes=(mode,))["modes"][mode]["times"]
    ratio = float(np.median(stats.paired_ratios(*times)))
    how = "jitted" if timing.COMPILES[backend.name] else "eager"
    return Result({"HeadVer1 s": [float(np.median(times[0]))], f"{name} s": [float(np.median(times[1]))],
                   f"HeadVer1/{name}": [ratio]},
                  ratio > 1, f"{SPEED_CALLS} calls on random {SPEED_SHAPE}, {how}, median of {SPEED_ROUNDS} "
                  f"paired runs: HeadVer1/{name} = {ratio:.1f}x")


@question("test_head_ver_2_equals_head_ver_1", "test_3",
          asks="(Shown by the test) Is HeadVer2 the same function as HeadVer1?",
          answer="Yes: row t of the lower-triangular matrix divided by its row sum holds 1/(t+1) on positions 0..t,\n"
                 "so wei @ x is exactly the running mean.", experiment=_equals_experiment("HeadVer2"))
def head_v2_equal(backend, prof=None, corpus=None) -> Result:
    """On random (4, 8, 16) input HeadVer2 and HeadVer1 agree to 1e-6 (float32)."""
    return equals_head_v1(backend, "HeadVer2")


@question("test_head_ver_2_is_faster_than_head_ver_1", "test_3",
          asks="Why is HeadVer2 faster than HeadVer1?",
          answer="One batched matmul replaces T slices and reductions: one kernel instead of T dispatches (eager),\n"
                 "and one small program instead of T unrolled ones (jit).", times=True,
          experiment=_faster_experiment("HeadVer2"))
def head_v2_faster(backend, prof=None, corpus=None) -> Result:
    """Random (4, 128, 1024), 10 forward calls each: HeadVer2 takes less time. torch eager; Flax jitted and
    compiled before the clock starts (op by op, each of HeadVer1's 128 slice lengths is a new shape that JAX
    compiles a kernel for, so un-jitted Flax mostly measures compilation)."""
    return faster_than_head_v1(backend, "HeadVer2")


@question("test_head_ver_3_equals_head_ver_1", "test_4",
          asks="(Shown by the test) Is HeadVer3 the same function as HeadVer1?",
          answer="Yes: softmax of zeros with the future set to -inf gives 1/(t+1) on positions 0..t and exactly 0\n"
                 "after them, HeadVer2's matrix; the difference is that the zeros can become learned scores.",
          experiment=_equals_experiment("HeadVer3"))
def head_v3_equal(backend, prof=None, corpus=None) -> Result:
    """On random (4, 8, 16) input HeadVer3 and HeadVer1 agree to 1e-6 (float32)."""
    return equals_head_v1(backend, "HeadVer3")


@question("test_head_ver_3_is_faster_than_head_ver_1", "test_4",
          asks="Is HeadVer3 faster than HeadVer1?",
          answer="Yes, for HeadVer2's reason: the weights are one (T, T) matrix and the average one matmul; the\n"
                 "softmax over a (T, T) matrix costs nothing next to the (T, C) work.", times=True,
          experiment=_faster_experiment("HeadVer3"))
def head_v3_faster(backend, prof=None, corpus=None) -> Result:
    """Random (4, 128, 1024), 10 forward calls each: HeadVer3 takes less time (torch eager, Flax jitted)."""
    return faster_than_head_v1(backend, "HeadVer3")


def _masked_and_normalised(wei: np.ndarray) -> tuple[dict[str, list[float]], bool]:
    T = wei.shape[-1]
    future = wei[..., ~np.tril(np.ones((T, T), dtype=bool))]  # every weight on a later position
    rows = wei.sum(axis=-1)  # (..., T)
    numbers = {"max |row sum - 1|": [float(np.abs(rows - 1).max())],
               "max |future weight|": [float(np.abs(future).max()) if future.size else 0.0]}
    return numbers, bool(np.abs(rows - 1).max() <= SUMS_BOUND and np.all(future == 0.0))


def _weights_experiment(head: str) -> Experiment:
    return Experiment(f"{head}'s attention weights (read from the head: torch attribute, Flax sow): each row's sum, "
                      "and every weight on a later position",
                      f"standard-normal input of shape {SMALL_SHAPE}, float32",
                      "every row sums to 1; every future weight is exactly 0",
                      f"|row sum - 1| <= {num(SUMS_BOUND)}; future weights exact")


@question("test_head_ver_3_weights_sum_to_1_and_the_future_is_zero", "test_4",
          asks="What do HeadVer3's weights look like?",
          answer="Each row is a probability distribution (sums to 1) over the positions up to it; exp(-inf) = 0\n"
                 "makes every future weight exactly zero, so no token sees the ones after it.",
          experiment=_weights_experiment("HeadVer3"))
def head_v3_weights(backend, prof=None, corpus=None) -> Result:
    """HeadVer3's exposed weights (torch attribute, Flax sow): every row sums to 1 within 1e-6, and every weight
    on a future position is exactly 0.0."""
    x = _small_input()
    head = backend.create(lambda lib: lib.HeadVer3(CFG.block_size, CFG.embed_size), x)
    wei = backend.intermediates(head, x)["attentions"]  # (T, T)
    numbers, holds = _masked_and_normalised(wei)
    return Result(numbers, holds, f"weights {wei.shape}: rows sum to 1 (within {num(SUMS_BOUND)}), every future "
                                  "weight exactly 0")


# ---------------------------------------------------------------------------------------------------
# test_5: self-attention (HeadVer4)

STILL_BOUND, MOVED_BOUND = 1e-6, 1e-3  # float32: an output that must not move, one that must


def _head_v4(backend, x: np.ndarray):
    C = x.shape[-1]
    return backend.create(lambda lib: lib.HeadVer4(x.shape[1], C, C), x, seed=0)


@question("test_head_ver_4_has_no_notion_of_position", "test_5",
          asks="Does self-attention (HeadVer4) know where tokens are?",
          answer="No: scores depend only on the tokens' contents, and a weighted sum does not care about order, so\n"
                 "swapping two earlier tokens leaves a later output unchanged. Position must be added to the input.",
          experiment=Experiment(
              "HeadVer4({1}, {2}, {2})'s outputs before and after swapping the first two tokens: the last output "
              "(whose context holds the same tokens) and the first (whose context changed)".format(*SMALL_SHAPE),
              f"standard-normal input of shape {SMALL_SHAPE}, float32, init seed 0",
              "the last output does not move; the first does",
              f"last moves <= {num(STILL_BOUND)}; first moves > {num(MOVED_BOUND)}"))
def head_v4_no_position(backend, prof=None, corpus=None) -> Result:
    """HeadVer4(8, 16, 16) on random (4, 8, 16): swapping the first two tokens leaves the last output unchanged
    (within 1e-6); the first output, whose context changed, moves (by more than 1e-3)."""
    x = _small_input()
    swapped = x.copy()
    swapped[:, [0, 1]] = x[:, [1, 0]]  # the first two tokens trade places
    head = _head_v4(backend, x)
    y, ys = backend.forward(head, x), backend.forward(head, swapped)
    last, first = _max_diff(y[:, -1], ys[:, -1]), _max_diff(y[:, 0], ys[:, 0])
    return Result({"max |last output change|": [last], "max |first output change|": [first]},
                  last <= STILL_BOUND and first > MOVED_BOUND,
                  f"swap tokens 0 and 1: the last output moves {last:.1e} (bound {num(STILL_BOUND)}); the first, "
                  f"whose context changed, {first:.2f} (claim > {num(MOVED_BOUND)})")


@question("test_head_ver_4_weights_are_masked_and_normalised", "test_5",
          asks="What do HeadVer4's attention weights look like?",
          answer="HeadVer3's shape with learned scores: each row sums to 1 over the past and is exactly 0 on the\n"
                 "future, but the weights now differ from token to token.",
          experiment=_weights_experiment("HeadVer4({1}, {2}, {2})".format(*SMALL_SHAPE)))
def head_v4_weights(backend, prof=None, corpus=None) -> Result:
    """HeadVer4's attention weights (B, T, T): rows sum to 1 within 1e-6, future weights exactly 0.0."""
    x = _small_input()
    wei = backend.intermediates(_head_v4(backend, x), x)["attentions"]  # (B, T, T)
    numbers, holds = _masked_and_normalised(wei)
    return Result(numbers, holds, f"weights {wei.shape}: rows sum to 1 (within {num(SUMS_BOUND)}), every future "
                                  "weight exactly 0")


# The variance of var(q k^T / sqrt(C)) as a statistic: over 40 draws of the (4, 128, 1024) input (numpy, the same
# construction) it had mean 0.9992 and standard deviation 0.0052; the bound is six of those.
SCORE_VARIANCE_BOUND = 0.03


@question("test_scaled_scores_have_unit_variance", "test_5",
          asks="Why are the scores scaled by 1/sqrt(C)?",
          answer="q . k sums C products of unit-variance numbers, so its variance is C; dividing by sqrt(C) brings it\n"
                 "back to 1, so the softmax stays soft at initialisation instead of collapsing onto one token.",
          experiment=Experiment(
              "var(q k^T / sqrt(C)) of HeadVer4({1}, {2}, {2}) whose key map is the identity and query map a signed "
              "cyclic shift (q, k standard normal, no product pairing a number with itself)".format(*SPEED_SHAPE),
              f"standard-normal input of shape {SPEED_SHAPE}, float32",
              "the scaled scores have variance 1",
              f"|var - 1| <= SCORE_VARIANCE_BOUND = {num(SCORE_VARIANCE_BOUND)} (six standard deviations of the "
              "statistic over input draws)"))
def scaled_score_variance(backend, prof=None, corpus=None) -> Result:
    """HeadVer4(128, 1024, 1024) whose key map is the identity and query map a signed cyclic shift, on N(0, 1)
    x of shape (4, 128, 1024): k = x and q (q[i] = +-x[i - 1]) are standard normal, and no product in q . k
    pairs a number with itself; the head exposes var(q k^T / sqrt(C)), which is 1 within SCORE_VARIANCE_BOUND
    (six standard deviations of the statistic over input draws)."""
    B, T, C = SPEED_SHAPE
    x = _speed_input()
    signs = np.random.default_rng(1).choice(np.array([-1.0, 1.0], np.float32), size=C)  # (C,)
    shift = np.roll(np.eye(C, dtype=np.float32), 1, axis=0) * signs[:, None]  # (C, C) orthogonal: row i picks x[i - 1]
    head = _head_v4(backend, x)
    backend.set_weights(head, {"key.weight": np.eye(C, dtype=np.float32), "query.weight": shift,
                               "value.weight": np.eye(C, dtype=np.float32)})
    var = float(backend.intermediates(head, x)["var"])
    unscaled = var * C
    return Result({"var(q k^T / sqrt(C))": [var], "var(q k^T)": [unscaled]}, abs(var - 1) <= SCORE_VARIANCE_BOUND,
                  f"q, k ~ N(0, 1) of shape {SPEED_SHAPE}: scaled scores have variance {var:.4f} (1 within "
                  f"{SCORE_VARIANCE_BOUND}); unscaled {unscaled:.0f} ~ C, which would saturate the softmax")


@question("test_gpt_ver_2_with_head_ver_4_trains", "test_5", trains=True,
          asks="Does GPTVer2 with self-attention (HeadVer4) train better than with the uniform average?",
          answer="Yes: the learned weights can put their mass on the tokens that matter (mostly the last one),\n"
                 "which the uniform average of HeadVer1-3 cannot; it ends well below GPTVer2(HeadVer1).")
@trial
def gpt_v2_head_v4_trains(prof: Profile) -> Trial:
    """GPTVer2 around HeadVer4 (head_size = embed_size) ends with a lower mean validation loss than GPTVer2
    around HeadVer1 after the same training: learned weights beat the uniform average (3 seeds)."""
    better, worse = "GPTVer2(HeadVer4)", "GPTVer2(HeadVer1)"
    return _trial(prof, (better, worse, "GPTVer1"), lower(better, worse))


# ---------------------------------------------------------------------------------------------------
# test_6: word order, and the position encodings that restore it

REPEATED = 5  # the token the position questions repeat
SAME_LOGITS_BOUND, DIFFERENT_LOGITS = 1e-5, 1e-3  # float32: logits that must agree; how far apart they must be


def _repeated_token_logits(backend, name: str) -> np.ndarray:
    idx = np.full((1, CFG.block_size), REPEATED, dtype=np.int64)  # (1, T): one token, repeated
    model = backend.create(lambda lib: components.build(lib, name, CFG), idx, seed=0)
    return backend.forward(model, idx)[0]  # (T, V)


def _spread(logits: np.ndarray) -> float:
    """The largest difference between any position's logits and the first position's."""
    return _max_diff(logits, np.broadcast_to(logits[:1], logits.shape))


@question("test_word_order_is_lost_without_positions", "test_6",
          asks="What do GPTVer1 and GPTVer2 lose without position information?",
          answer="Word order: for a repeated token every position gets the same logits, since the bigram sees one\n"
                 "token and the average of identical embeddings is that embedding. Nothing says where a token is.",
          experiment=Experiment(
              "the logits of GPTVer1 and of GPTVer2(HeadVer1) at every position vs at the first",
              f"token {REPEATED} repeated {CFG.block_size} times (the curriculum's config, init seed 0)",
              "identical logits at every position", f"max abs difference <= {num(SAME_LOGITS_BOUND)}"))
def order_lost(backend, prof=None, corpus=None) -> Result:
    """For one token repeated block_size times, GPTVer1 and GPTVer2(HeadVer1) give the same logits at every
    position (within 1e-5): neither can tell where a token is."""
    numbers = {f"{n}: max |logits[t] - logits[0]|": [_spread(_repeated_token_logits(backend, n))]
               for n in ("GPTVer1", "GPTVer2(HeadVer1)")}
    holds = all(v[0] <= SAME_LOGITS_BOUND for v in numbers.values())
    return Result(numbers, holds, f"token {REPEATED} repeated {CFG.block_size} times: identical logits at every "
                                  f"position (bound {num(SAME_LOGITS_BOUND)})")


@question("test_position_encodings_properties", "test_6",
          asks="Which of the four position encodings has every property a position encoding needs?",
          answer="Only v4 (sin/cos pairs): v1 = pos grows without bound, v2 = pos/(T-1) changes with the sequence\n"
                 "length, v3 = sin on every feature is bounded but unevenly spaced; a sin/cos pair rotates by a fixed "
                 "angle per step.",
          experiment=Experiment(
              "the four position encodings v1-v4 (the backend's PositionalEncoding on x = 0) against the four "
              "properties: " + ", ".join(PROPERTIES),
              f"sequence lengths {' and '.join(map(str, ENCODING_LENGTHS))}, embed_size {CFG.embed_size}",
              "; ".join(f"v{v} " + (", ".join(f"not {p}" for p, has in want.items() if not has) or "has all four")
                        for v, want in EXPECTED_PROPERTIES.items()),
              "exact: each property measured yes or no (learngpt.positions.properties)"))
def encoding_properties(backend, prof=None, corpus=None) -> Result:
    """Each encoding v1-v4, read from the backend's PositionalEncoding (x = 0) at sequence lengths 8 and 16,
    against the four properties (distinct positions; values in [-1, 1]; distances independent of the sequence
    length; equally spaced positions equally far apart): v1 is unbounded, v2 depends on the length, v3 is
    unevenly spaced, v4 has all four."""
    C = CFG.embed_size
    measured, notes = {}, []
    for v in VERSIONS:
        tables = {}
        for T in ENCODING_LENGTHS:
            zeros = np.zeros((1, T, C), dtype=np.float32)
            pe = backend.create(lambda lib: lib.PositionalEncoding(T, C, v), zeros)
            tables[T] = backend.forward(pe, zeros)[0]  # (T, C)
        measured[v] = properties(tables)
        notes.append(f"v{v}: " + ", ".join(f"{p} {'yes' if measured[v][p] else 'no'}" for p in PROPERTIES))
    numbers = {f"v{v} {p}": [float(measured[v][p])] for v in VERSIONS for p in PROPERTIES}
    wrong = [f"v{v} {p}" for v in VERSIONS for p in PROPERTIES if measured[v][p] != EXPECTED_PROPERTIES[v][p]]
    return Result(numbers, not wrong,
                  "v1 unbounded; v2 depends on the sequence length; v3 unevenly spaced; v4 (sin/cos) has all four"
                  + (f" (measured otherwise: {', '.join(wrong)})" if wrong else ""), notes=notes)


@question("test_gpt_ver_3_logits_differ_by_position", "test_6",
          asks="Does GPTVer3 tell positions apart?",
          answer="Yes: the same token at different positions enters the head as different vectors (token embedding +\n"
                 "PE[pos]), so its logits differ by position.",
          experiment=Experiment(
              "the logits of GPTVer3(HeadVer4) at every two positions",
              f"token {REPEATED} repeated {CFG.block_size} times (the curriculum's config, init seed 0)",
              "every two positions' logits differ",
              f"min over position pairs of max abs difference > {num(DIFFERENT_LOGITS)}"))
def positions_break_the_tie(backend, prof=None, corpus=None) -> Result:
    """GPTVer3(HeadVer4), token 5 repeated: every two positions' logits differ (max abs diff > 1e-3)."""
    logits = _repeated_token_logits(backend, "GPTVer3(HeadVer4)")  # (T, V)
    closest = min(_max_diff(logits[s], logits[t]) for s in range(len(logits)) for t in range(s))
    return Result({"min over position pairs of max |logits[s] - logits[t]|": [closest]}, closest > DIFFERENT_LOGITS,
                  f"token {REPEATED} repeated: every two positions' logits differ by at least {closest:.3f} (claim > "
                  f"{num(DIFFERENT_LOGITS)})")


@question("test_gpt_ver_3_with_head_ver_4_trains", "test_6", trains=True,
          asks="Does week 1's finished model, GPTVer3 with HeadVer4, learn?",
          answer="Yes: it ends below the bigram and below GPTVer2(HeadVer4), the same model without positions:\n"
                 "attention picks what to read, the positions tell it where things are.")
@trial
def gpt_v3_trains(prof: Profile) -> Trial:
    """GPTVer3 around HeadVer4 ends with a lower mean validation loss than the bigram and than GPTVer2 around
    HeadVer4 (the same model without positions), after the same training (3 seeds)."""
    better = "GPTVer3(HeadVer4)"
    claim = both(lower(better, "GPTVer1"), lower(better, "GPTVer2(HeadVer4)"))
    return _trial(prof, (better, "GPTVer2(HeadVer4)", "GPTVer1"), claim)

"""Week 1's questions (tests/test_1.py .. test_6.py) as experiments, written once and run on a Backend.

The structure is parity.questions' (Profile, Result, Question, QUESTIONS; see its docstring), which
`learngpt questions` asks first. What week 1 changes:

- Setup: the seed's config (batch 32, block_size 8, embed_size 16) with learning_rate 1e-2, the value
  of Karpathy's bigram.py that week 1 follows: at the seed's 1e-3 an N(0, 1)-initialised bigram table
  moves 0.001 per step and needs thousands of steps to leave the uniform baseline.
- Steps: `ITERS[profile.name]` (default 500, full 5000), the same for every arm, 3 seeds, the mean
  asserted. Training runs are cached per process (parity.questions.compare), so the bigram trained for
  test_1 is the baseline of test_2, and the GPTVer2 runs of test_2 and test_5 are shared with test_6.
- Speed questions time the issue's random (4, 128, 1024) input over 10 calls; torch eager, Flax jitted
  (compiled before the clock starts). HeadVer1's timing is measured once per backend and shared by
  test_3 and test_4, since its compile (one program unrolled over 128 positions) is the expensive part.
"""
from __future__ import annotations

import math
import time

import numpy as np

from learngpt.components import RECIPES
from learngpt.config import Config
from learngpt.data import BatchSampler, Corpus
from learngpt.positions import PROPERTIES, VERSIONS, properties
from learngpt.training import eval_data
from parity.questions import Profile, Question, Result, compare

LEARNING_RATE = 1e-2  # week 1's value (bigram.py); see the module docstring
ITERS = {"default": 500, "full": 5000}  # AdamW steps per run, every arm alike
SPEED_SHAPE = (4, 128, 1024)  # the random input for the speed questions
SPEED_CALLS = 10
SMALL = Config()  # block_size 8, embed_size 16: the shapes of the equality checks

# What week 1 teaches about its four position encodings: which of the four properties each one has.
EXPECTED_PROPERTIES = {
    1: {"distinct": True, "bounded": False, "length_independent": True, "equally_spaced": True},
    2: {"distinct": True, "bounded": True, "length_independent": False, "equally_spaced": True},
    3: {"distinct": True, "bounded": True, "length_independent": True, "equally_spaced": False},
    4: {"distinct": True, "bounded": True, "length_independent": True, "equally_spaced": True},
}


def _iters(prof: Profile) -> int:
    return ITERS.get(prof.name, ITERS["default"])


def _train(backend, test: str, prof: Profile, corpus: Corpus, arms: tuple[str, ...], claim) -> Result:
    """Every arm (a RECIPES name) trained once per seed with week 1's setup; final val loss per seed."""
    return compare(backend, test, prof, corpus, {name: RECIPES[name] for name in arms}, _iters(prof),
                   cfg_changes={"learning_rate": LEARNING_RATE}, claim=claim)


def _small_input(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((4, SMALL.block_size, SMALL.embed_size)).astype(np.float32)


def _max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


# ---------------------------------------------------------------------------------------------------
# test_1: the bigram

def bigram_beats_uniform(backend, prof: Profile, corpus: Corpus) -> Result:
    uniform = math.log(SMALL.vocab_size)

    def claim(numbers):
        mean = float(np.mean(numbers["GPTVer1"]))
        return mean < uniform - 1.0, f"mean val loss {mean:.4f} vs uniform ln({SMALL.vocab_size}) = {uniform:.4f} (claim: at least 1 nat under)"
    result = _train(backend, "test_gpt_ver_1_beats_the_uniform_baseline", prof, corpus, ("GPTVer1",), claim)
    result.numbers["uniform baseline ln(vocab)"] = [uniform]
    return result


def bigram_generates(backend, prof: Profile, corpus: Corpus, new_tokens: int = 50) -> Result:
    """One bigram (seed 0) trained as in test_1, then 50 characters sampled from a newline by its own generate
    (Flax compiles the growing concatenate once per length: more characters cost seconds, not information)."""
    t0 = time.perf_counter()
    cfg = prof.cfg(prof.seeds[0], learning_rate=LEARNING_RATE)
    sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed=cfg.seed)
    model = backend.create(lambda lib: RECIPES["GPTVer1"](lib, cfg), np.zeros((1, cfg.block_size), np.int64), seed=cfg.seed)
    backend.train(model, cfg, sampler, eval_data(sampler, cfg, 1), max_iters=_iters(prof), eval_interval=_iters(prof))
    start = corpus.tokenizer.encode("\n")[None, :]  # (1, 1)
    out = backend.generate(model, start, new_tokens, seed=0)  # (1, 1 + new_tokens)
    in_vocab = bool(out.size and out.min() >= 0 and out.max() < corpus.tokenizer.vocab_size)
    text = corpus.tokenizer.decode(out[0]) if in_vocab else ""
    holds = out.shape == (1, 1 + new_tokens) and in_vocab and len(text) == 1 + new_tokens
    return Result("test_gpt_ver_1_generates_characters_from_the_vocabulary", backend.name,
                  {"generated tokens": [out.shape[1] - 1], "lowest id": [int(out.min())], "highest id": [int(out.max())]},
                  holds, f"{out.shape[1] - 1} new tokens (asked {new_tokens}), ids in [0, {corpus.tokenizer.vocab_size}): {in_vocab}",
                  seconds=time.perf_counter() - t0, notes=["sample: " + repr(text)])


# ---------------------------------------------------------------------------------------------------
# test_2: averaging the past with loops, and what it buys a language model

def head_v1_example(backend, prof: Profile | None = None, corpus=None) -> Result:
    x = np.array([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], dtype=np.float32)  # (1, 3, 3)
    want = np.array([[[1, 2, 3], [2.5, 3.5, 4.5], [4, 5, 6]]], dtype=np.float32)
    head = backend.create(lambda lib: lib.HeadVer1(3, 3), x)
    got = backend.forward(head, x)
    diff = _max_diff(got, want)
    return Result("test_head_ver_1_averages_the_past", backend.name, {"max |got - want|": [diff]}, diff < 1e-6,
                  f"HeadVer1([[1,2,3],[4,5,6],[7,8,9]]) = {got[0].tolist()}")


def gpt_v2_head_v1_vs_bigram(backend, prof: Profile, corpus: Corpus) -> Result:
    better, worse = "GPTVer2(HeadVer1)", "GPTVer1"

    def claim(numbers):
        b, w = float(np.mean(numbers[better])), float(np.mean(numbers[worse]))
        return b < w, f"mean val loss: {better} {b:.4f} {'<' if b < w else '>='} {worse} {w:.4f}"
    return _train(backend, "test_gpt_ver_2_with_head_ver_1_beats_the_bigram", prof, corpus, (better, worse), claim)


# ---------------------------------------------------------------------------------------------------
# test_3 and test_4: the same average as a matrix, then as a masked softmax

_HEAD_V1_SECONDS: dict[str, float] = {}  # backend name -> HeadVer1's seconds at SPEED_SHAPE, measured once


def _speed_input() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(SPEED_SHAPE).astype(np.float32)


def _seconds(backend, name: str) -> float:
    B, T, C = SPEED_SHAPE
    x = _speed_input()
    model = backend.create(lambda lib: getattr(lib, name)(T, C), x)
    return backend.timed_forward(model, x, SPEED_CALLS, jit=True)


def equals_head_v1(backend, name: str, test: str) -> Result:
    x = _small_input()
    v1 = backend.create(lambda lib: lib.HeadVer1(SMALL.block_size, SMALL.embed_size), x)
    other = backend.create(lambda lib: getattr(lib, name)(SMALL.block_size, SMALL.embed_size), x)
    diff = _max_diff(backend.forward(other, x), backend.forward(v1, x))
    return Result(test, backend.name, {f"max |{name} - HeadVer1|": [diff]}, diff <= 1e-6,
                  f"random {x.shape}: max abs diff {diff:.2e} (bound 1e-6, float32)")


def faster_than_head_v1(backend, name: str, test: str) -> Result:
    if backend.name not in _HEAD_V1_SECONDS:
        _HEAD_V1_SECONDS[backend.name] = _seconds(backend, "HeadVer1")
    slow, fast = _HEAD_V1_SECONDS[backend.name], _seconds(backend, name)
    how = "jitted" if backend.compiles else "eager"
    return Result(test, backend.name, {"HeadVer1 s": [slow], f"{name} s": [fast]}, fast < slow,
                  f"{SPEED_CALLS} calls on random {SPEED_SHAPE}, {how}: HeadVer1/{name} = {slow / fast:.1f}x")


def head_v2_equal(backend, prof=None, corpus=None) -> Result:
    return equals_head_v1(backend, "HeadVer2", "test_head_ver_2_equals_head_ver_1")


def head_v2_faster(backend, prof=None, corpus=None) -> Result:
    return faster_than_head_v1(backend, "HeadVer2", "test_head_ver_2_is_faster_than_head_ver_1")


def head_v3_equal(backend, prof=None, corpus=None) -> Result:
    return equals_head_v1(backend, "HeadVer3", "test_head_ver_3_equals_head_ver_1")


def head_v3_faster(backend, prof=None, corpus=None) -> Result:
    return faster_than_head_v1(backend, "HeadVer3", "test_head_ver_3_is_faster_than_head_ver_1")


def _masked_and_normalised(wei: np.ndarray) -> tuple[dict[str, list[float]], bool]:
    T = wei.shape[-1]
    future = wei[..., ~np.tril(np.ones((T, T), dtype=bool))]  # every weight on a later position
    rows = wei.sum(axis=-1)  # (..., T)
    numbers = {"max |row sum - 1|": [float(np.abs(rows - 1).max())],
               "max |future weight|": [float(np.abs(future).max()) if future.size else 0.0]}
    return numbers, bool(np.abs(rows - 1).max() <= 1e-6 and np.all(future == 0.0))


def head_v3_weights(backend, prof=None, corpus=None) -> Result:
    x = _small_input()
    head = backend.create(lambda lib: lib.HeadVer3(SMALL.block_size, SMALL.embed_size), x)
    wei = backend.intermediates(head, x)["attentions"]  # (T, T)
    numbers, holds = _masked_and_normalised(wei)
    return Result("test_head_ver_3_weights_sum_to_1_and_the_future_is_zero", backend.name, numbers, holds,
                  f"weights {wei.shape}: rows sum to 1 (within 1e-6), every future weight exactly 0")


# ---------------------------------------------------------------------------------------------------
# test_5: self-attention (HeadVer4)

def _head_v4(backend, x: np.ndarray):
    C = x.shape[-1]
    return backend.create(lambda lib: lib.HeadVer4(x.shape[1], C, C), x, seed=0)


def head_v4_no_position(backend, prof=None, corpus=None) -> Result:
    x = _small_input()
    swapped = x.copy()
    swapped[:, [0, 1]] = x[:, [1, 0]]  # the first two tokens trade places
    head = _head_v4(backend, x)
    y, ys = backend.forward(head, x), backend.forward(head, swapped)
    last, first = _max_diff(y[:, -1], ys[:, -1]), _max_diff(y[:, 0], ys[:, 0])
    return Result("test_head_ver_4_has_no_notion_of_position", backend.name,
                  {"max |last output change|": [last], "max |first output change|": [first]}, last <= 1e-6,
                  f"swap tokens 0 and 1: the last output moves {last:.1e} (bound 1e-6); the first, whose context changed, {first:.2f}")


def head_v4_weights(backend, prof=None, corpus=None) -> Result:
    x = _small_input()
    wei = backend.intermediates(_head_v4(backend, x), x)["attentions"]  # (B, T, T)
    numbers, holds = _masked_and_normalised(wei)
    return Result("test_head_ver_4_weights_are_masked_and_normalised", backend.name, numbers, holds,
                  f"weights {wei.shape}: rows sum to 1 (within 1e-6), every future weight exactly 0")


def scaled_score_variance(backend, prof=None, corpus=None) -> Result:
    """HeadVer4(128, 1024, 1024) whose key map is the identity and query map a signed cyclic shift, on N(0, 1)
    x of shape (4, 128, 1024): k = x and q (q[i] = +-x[i - 1]) are standard normal, and no product in q . k
    pairs a number with itself; the head exposes var(q k^T / sqrt(C))."""
    B, T, C = SPEED_SHAPE
    x = _speed_input()
    signs = np.random.default_rng(1).choice(np.array([-1.0, 1.0], np.float32), size=C)  # (C,)
    shift = np.roll(np.eye(C, dtype=np.float32), 1, axis=0) * signs[:, None]  # (C, C) orthogonal: row i picks x[i - 1]
    head = _head_v4(backend, x)
    backend.load_weights(head, {"key.weight": np.eye(C, dtype=np.float32), "query.weight": shift,
                                "value.weight": np.eye(C, dtype=np.float32)})
    var = float(backend.intermediates(head, x)["var"])
    unscaled = var * C
    return Result("test_scaled_scores_have_unit_variance", backend.name,
                  {"var(q k^T / sqrt(C))": [var], "var(q k^T)": [unscaled]}, round(var) == 1,
                  f"q, k ~ N(0, 1) of shape {SPEED_SHAPE}: scaled scores have variance {var:.4f} (rounds to 1); "
                  f"unscaled {unscaled:.0f} ~ C, which would saturate the softmax")


def gpt_v2_head_v4_trains(backend, prof: Profile, corpus: Corpus) -> Result:
    better, worse = "GPTVer2(HeadVer4)", "GPTVer2(HeadVer1)"

    def claim(numbers):
        b, w = float(np.mean(numbers[better])), float(np.mean(numbers[worse]))
        g = float(np.mean(numbers["GPTVer1"]))
        return b < w, (f"mean val loss: {better} {b:.4f} {'<' if b < w else '>='} {worse} {w:.4f} "
                       f"(the bigram: {g:.4f})")
    return _train(backend, "test_gpt_ver_2_with_head_ver_4_trains", prof, corpus, (better, worse, "GPTVer1"), claim)


# ---------------------------------------------------------------------------------------------------
# test_6: word order, and the position encodings that restore it

def _repeated_token_logits(backend, name: str) -> np.ndarray:
    idx = np.full((1, SMALL.block_size), 5, dtype=np.int64)  # (1, T): one token, repeated
    model = backend.create(lambda lib: RECIPES[name](lib, SMALL), idx, seed=0)
    return backend.forward(model, idx)[0]  # (T, V)


def _spread(logits: np.ndarray) -> float:
    """The largest difference between any position's logits and the first position's."""
    return _max_diff(logits, np.broadcast_to(logits[:1], logits.shape))


def order_lost(backend, prof=None, corpus=None) -> Result:
    numbers = {f"{n}: max |logits[t] - logits[0]|": [_spread(_repeated_token_logits(backend, n))]
               for n in ("GPTVer1", "GPTVer2(HeadVer1)")}
    holds = all(v[0] <= 1e-5 for v in numbers.values())
    return Result("test_word_order_is_lost_without_positions", backend.name, numbers, holds,
                  f"token 5 repeated {SMALL.block_size} times: identical logits at every position (bound 1e-5)")


def encoding_properties(backend, prof=None, corpus=None) -> Result:
    """Each encoding read from the backend's PositionalEncoding (x = 0) at sequence lengths 8 and 16."""
    C = SMALL.embed_size
    measured, notes = {}, []
    for v in VERSIONS:
        tables = {}
        for T in (8, 16):
            zeros = np.zeros((1, T, C), dtype=np.float32)
            pe = backend.create(lambda lib: lib.PositionalEncoding(T, C, v), zeros)
            tables[T] = backend.forward(pe, zeros)[0]  # (T, C)
        measured[v] = properties(tables)
        notes.append(f"v{v}: " + ", ".join(f"{p} {'yes' if measured[v][p] else 'no'}" for p in PROPERTIES))
    numbers = {f"v{v} {p}": [float(measured[v][p])] for v in VERSIONS for p in PROPERTIES}
    holds = measured == EXPECTED_PROPERTIES
    return Result("test_position_encodings_properties", backend.name, numbers, holds,
                  "v1 unbounded; v2 depends on the sequence length; v3 unevenly spaced; v4 (sin/cos) has all four",
                  notes=notes)


def positions_break_the_tie(backend, prof=None, corpus=None) -> Result:
    logits = _repeated_token_logits(backend, "GPTVer3(HeadVer4)")  # (T, V)
    closest = min(_max_diff(logits[s], logits[t]) for s in range(len(logits)) for t in range(s))
    return Result("test_gpt_ver_3_logits_differ_by_position", backend.name,
                  {"min over position pairs of max |logits[s] - logits[t]|": [closest]}, closest > 1e-3,
                  f"token 5 repeated: every two positions' logits differ by at least {closest:.3f} (claim > 1e-3)")


def gpt_v3_trains(backend, prof: Profile, corpus: Corpus) -> Result:
    better = "GPTVer3(HeadVer4)"

    def claim(numbers):
        b, g, n = (float(np.mean(numbers[k])) for k in (better, "GPTVer1", "GPTVer2(HeadVer4)"))
        return b < g and b < n, (f"mean val loss: {better} {b:.4f} < the bigram {g:.4f}: {b < g}; "
                                 f"< GPTVer2(HeadVer4) (no positions) {n:.4f}: {b < n}")
    return _train(backend, "test_gpt_ver_3_with_head_ver_4_trains", prof, corpus,
                  (better, "GPTVer2(HeadVer4)", "GPTVer1"), claim)


QUESTIONS: list[Question] = [
    Question("test_gpt_ver_1_beats_the_uniform_baseline", "test_1",
             "Does the bigram model (GPTVer1) learn anything from the corpus?",
             "Yes: reading the next character's logits off the current character's row takes the loss from\n"
             "ln(65) = 4.17 (a uniform guess) to about 2.5: which character follows which is most of what it knows.",
             bigram_beats_uniform),
    Question("test_gpt_ver_1_generates_characters_from_the_vocabulary", "test_1",
             "Can GPTVer1 generate text?",
             "Yes, character by character from the last one only: the requested number of characters, all from\n"
             "the vocabulary, with Shakespeare's letter pairs but no words: one character of context is too little.",
             bigram_generates),
    Question("test_head_ver_1_averages_the_past", "test_2",
             "What does HeadVer1 compute?",
             "Each position's output is the mean of the inputs up to and including it: the simplest way to let a\n"
             "token see its past, written as a loop over positions.",
             head_v1_example),
    Question("test_gpt_ver_2_with_head_ver_1_beats_the_bigram", "test_2",
             "Does GPTVer2 with HeadVer1 do better than the bigram?",
             "No: a uniform average over the past blurs the most informative token, the last one, with all the\n"
             "others, and there is no position to tell them apart; the bigram reads the last token exactly.",
             gpt_v2_head_v1_vs_bigram),
    Question("test_head_ver_2_equals_head_ver_1", "test_3",
             "(Shown by the test) Is HeadVer2 the same function as HeadVer1?",
             "Yes: row t of the lower-triangular matrix divided by its row sum holds 1/(t+1) on positions 0..t,\n"
             "so wei @ x is exactly the running mean.",
             head_v2_equal),
    Question("test_head_ver_2_is_faster_than_head_ver_1", "test_3",
             "Why is HeadVer2 faster than HeadVer1?",
             "One batched matmul replaces T slices and reductions: one kernel instead of T dispatches (eager),\n"
             "and one small program instead of T unrolled ones (jit).",
             head_v2_faster),
    Question("test_head_ver_3_equals_head_ver_1", "test_4",
             "(Shown by the test) Is HeadVer3 the same function as HeadVer1?",
             "Yes: softmax of zeros with the future set to -inf gives 1/(t+1) on positions 0..t and exactly 0\n"
             "after them, HeadVer2's matrix; the difference is that the zeros can become learned scores.",
             head_v3_equal),
    Question("test_head_ver_3_is_faster_than_head_ver_1", "test_4",
             "Is HeadVer3 faster than HeadVer1?",
             "Yes, for HeadVer2's reason: the weights are one (T, T) matrix and the average one matmul; the\n"
             "softmax over a (T, T) matrix costs nothing next to the (T, C) work.",
             head_v3_faster),
    Question("test_head_ver_3_weights_sum_to_1_and_the_future_is_zero", "test_4",
             "What do HeadVer3's weights look like?",
             "Each row is a probability distribution (sums to 1) over the positions up to it; exp(-inf) = 0\n"
             "makes every future weight exactly zero, so no token sees the ones after it.",
             head_v3_weights),
    Question("test_head_ver_4_has_no_notion_of_position", "test_5",
             "Does self-attention (HeadVer4) know where tokens are?",
             "No: scores depend only on the tokens' contents, and a weighted sum does not care about order, so\n"
             "swapping two earlier tokens leaves a later output unchanged. Position must be added to the input.",
             head_v4_no_position),
    Question("test_head_ver_4_weights_are_masked_and_normalised", "test_5",
             "What do HeadVer4's attention weights look like?",
             "HeadVer3's shape with learned scores: each row sums to 1 over the past and is exactly 0 on the\n"
             "future, but the weights now differ from token to token.",
             head_v4_weights),
    Question("test_scaled_scores_have_unit_variance", "test_5",
             "Why are the scores scaled by 1/sqrt(C)?",
             "q . k sums C products of unit-variance numbers, so its variance is C; dividing by sqrt(C) brings it\n"
             "back to 1, so the softmax stays soft at initialisation instead of collapsing onto one token.",
             scaled_score_variance),
    Question("test_gpt_ver_2_with_head_ver_4_trains", "test_5",
             "Does GPTVer2 with self-attention (HeadVer4) train better than with the uniform average?",
             "Yes: the learned weights can put their mass on the tokens that matter (mostly the last one),\n"
             "which the uniform average of HeadVer1-3 cannot; it ends well below GPTVer2(HeadVer1).",
             gpt_v2_head_v4_trains),
    Question("test_word_order_is_lost_without_positions", "test_6",
             "What do GPTVer1 and GPTVer2 lose without position information?",
             "Word order: for a repeated token every position gets the same logits, since the bigram sees one\n"
             "token and the average of identical embeddings is that embedding. Nothing says where a token is.",
             order_lost),
    Question("test_position_encodings_properties", "test_6",
             "Which of the four position encodings has every property a position encoding needs?",
             "Only v4 (sin/cos pairs): v1 = pos grows without bound, v2 = pos/(T-1) changes with the sequence length,\n"
             "v3 = sin on every feature is bounded but unevenly spaced; a sin/cos pair rotates by a fixed angle per step.",
             encoding_properties),
    Question("test_gpt_ver_3_logits_differ_by_position", "test_6",
             "Does GPTVer3 tell positions apart?",
             "Yes: the same token at different positions enters the head as different vectors (token embedding +\n"
             "PE[pos]), so its logits differ by position.",
             positions_break_the_tie),
    Question("test_gpt_ver_3_with_head_ver_4_trains", "test_6",
             "Does week 1's finished model, GPTVer3 with HeadVer4, learn?",
             "Yes: it ends below the bigram and below GPTVer2(HeadVer4), the same model without positions:\n"
             "attention picks what to read, the positions tell it where things are.",
             gpt_v3_trains),
]

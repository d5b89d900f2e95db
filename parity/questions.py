"""The seed's week-2 questions as experiments, written once and run on a `parity.backends.Backend`.

Structure (a sibling module, e.g. `parity/questions_week1.py`, follows the same one and the
`learngpt questions` command picks it up when it exists):

- `Profile`: how much work an experiment does. `profile()` resolves $LEARNGPT_PROFILE
  (`default`, what CI runs, or `full`, the seed's config exactly). Reuse it from this module.
- `Result`: what one experiment measured on one backend: `numbers` (label -> per-seed values,
  or a single value in a one-element list), `holds` (is the seed's claim true here), `claim`
  (one line with the compared numbers). `str(result)` prints the per-seed numbers.
- `Question`: `test` (the test function's name, e.g. "test_ffn_helps"), `file` ("test_8"),
  `asks` (the seed's question in English), `answer` (two lines), `run(backend, profile, corpus)
  -> Result`. `corpus` is a `learngpt.data.Corpus` (None is fine for questions that do not train).
- `QUESTIONS`: the module's questions in the seed's order. The command imports every module named
  in `MODULES` that exists and asks each of its `QUESTIONS` of each selected backend.

A test is then three lines, written once for both backends:

    def test_ffn_helps(backend, corpus):
        result = questions.ffn_helps(backend, questions.profile(), corpus)
        print(result)
        assert result.mean("BlockVer1") < result.mean("MultiHeadVer2"), result.claim

Training experiments: for seed s, both backends draw the same training batches (BatchSampler seeded
with s) and are evaluated on the same fixed evaluation batches (`learngpt.training.eval_data`).
Runs are cached per process, so that two questions sharing an arm (BlockVer2 x n_layers answers both
the residual and the LayerNorm question) train it once.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from learngpt import components
from learngpt.config import Config
from learngpt.data import BatchSampler, Corpus
from learngpt.training import EvalPoint, eval_data

MODULES = ("parity.questions_week1", "parity.questions")  # asked in this order by `learngpt questions`
PROFILE_ENV = "LEARNGPT_PROFILE"


@dataclass(frozen=True)
class Profile:
    """How much an experiment trains. `full` is the seed's config; `default` is what CI can afford."""
    name: str
    max_iters: int  # AdamW steps per training run
    eval_iters: int  # fixed evaluation batches per split, averaged
    eval_interval: int  # steps between evaluations (only the last one is compared)
    seeds: tuple[int, ...]  # one run per seed; claims are asserted on the mean over seeds
    deep_max_iters: int  # steps for the n_layers-deep stacks (residual, LayerNorm questions)
    dropout_max_iters: int  # steps for the dropout question (small training split, so it can overfit)
    dropout_train_tokens: int  # characters of the training split the dropout question keeps

    def cfg(self, seed: int, **changes) -> Config:
        return Config(seed=seed, eval_iters=self.eval_iters, **changes)


PROFILES = {
    # The seed's config exactly: 5000 steps, 200 evaluation batches every 500 steps.
    "full": Profile("full", max_iters=5000, eval_iters=200, eval_interval=500, seeds=(0, 1, 2),
                    deep_max_iters=5000, dropout_max_iters=5000, dropout_train_tokens=2000),
    # CI: fewer steps, fewer evaluation batches, one evaluation at the end (values chosen by measurement,
    # see docs/answers.md: every claim holds on the mean of three seeds with these).
    "default": Profile("default", max_iters=500, eval_iters=50, eval_interval=1000, seeds=(0, 1, 2),
                       deep_max_iters=400, dropout_max_iters=800, dropout_train_tokens=2000),
}


def profile(name: str | None = None) -> Profile:
    """The named profile, else $LEARNGPT_PROFILE, else `default`."""
    name = name or os.environ.get(PROFILE_ENV) or "default"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; expected one of {', '.join(PROFILES)}")
    return PROFILES[name]


@dataclass
class Result:
    """What one question measured on one backend."""
    test: str
    backend: str
    numbers: dict[str, list[float]]  # label -> one value per seed (or a single measurement)
    holds: bool
    claim: str
    seeds: tuple[int, ...] = ()
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def mean(self, label: str) -> float:
        return float(np.mean(self.numbers[label]))

    def __str__(self) -> str:
        lines = [f"{self.test}[{self.backend}]: {'holds' if self.holds else 'DOES NOT HOLD'}: {self.claim}"]
        for label, values in self.numbers.items():
            if len(values) > 1:
                per_seed = ", ".join(f"seed {s}: {v:.4f}" for s, v in zip(self.seeds, values))
                lines.append(f"  {label}: mean {np.mean(values):.4f} ({per_seed})")
            else:
                lines.append(f"  {label}: {values[0]:.6g}")
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class Question:
    """One of the seed's questions: the test that asks it, the question, the answer, the experiment."""
    test: str
    file: str
    asks: str
    answer: str
    run: Callable[..., Result]


# ---------------------------------------------------------------------------------------------------
# Training: one run per (backend, arm, seed, setup), cached for the process.

_RUNS: dict[tuple, tuple[EvalPoint, float]] = {}  # -> (final evaluation, training steps per second)


def small_split(corpus: Corpus, train_tokens: int) -> Corpus:
    """The corpus with only its first train_tokens training characters (the validation split unchanged)."""
    return Corpus(corpus.text, corpus.tokenizer, corpus.train[:train_tokens], corpus.val)


def train_final(backend, arm: str, build: Callable, cfg: Config, corpus: Corpus, max_iters: int,
                eval_interval: int) -> tuple[EvalPoint, float]:
    """Train build(lib) from init seed cfg.seed on the sampler seeded cfg.seed: (final evaluation, steps/s)."""
    key = (backend.name, arm, cfg, len(corpus.train), max_iters, eval_interval)
    if key not in _RUNS:
        sampler = BatchSampler(corpus, cfg.batch_size, cfg.block_size, seed=cfg.seed)
        evals = eval_data(sampler, cfg)  # fixed batches from their own generator: the same on both sides
        model = backend.create(lambda lib: build(lib, cfg), np.zeros((1, cfg.block_size), np.int64), seed=cfg.seed)
        history = backend.train(model, cfg, sampler, evals, max_iters=max_iters, eval_interval=eval_interval)
        _RUNS[key] = (history.final, history.steps_per_second)
    return _RUNS[key]


def compare(backend, test: str, prof: Profile, corpus: Corpus, arms: dict[str, Callable], max_iters: int,
            metric: str = "val_loss", train_tokens: int | None = None, cfg_changes: dict | None = None,
            claim: Callable[[dict[str, list[float]]], tuple[bool, str]] | None = None,
            extra_metrics: tuple[str, ...] = ()) -> Result:
    """Train every arm once per seed; numbers[label] = the final `metric` per seed."""
    t0 = time.perf_counter()
    data = corpus if train_tokens is None else small_split(corpus, train_tokens)
    numbers: dict[str, list[float]] = {}
    speed: dict[str, list[float]] = {}
    for seed in prof.seeds:
        cfg = prof.cfg(seed, **(cfg_changes or {}))
        for label, build in arms.items():
            point, steps_per_second = train_final(backend, label, build, cfg, data, max_iters,
                                                  min(prof.eval_interval, max_iters))
            speed.setdefault(label, []).append(steps_per_second)
            for m in (metric,) + extra_metrics:
                name = label if m == metric else f"{label} {m.replace('_loss', '')}"
                numbers.setdefault(name, []).append(getattr(point, m))
    holds, text = claim(numbers)
    notes = [f"{max_iters} steps per run; training steps/s (compile and evaluation excluded): "
             + ", ".join(f"{label} {np.mean(v):.0f}" for label, v in speed.items())]
    return Result(test, backend.name, numbers, holds, text, prof.seeds, time.perf_counter() - t0, notes)


def lower_mean(better: str, worse: str, what: str = "mean val loss"):
    """The claim `better` ends with the lower mean than `worse`."""
    def claim(numbers):
        b, w = float(np.mean(numbers[better])), float(np.mean(numbers[worse]))
        return b < w, f"{what}: {better} {b:.4f} {'<' if b < w else '>='} {worse} {w:.4f}"
    return claim


def gpt_with(ctx: str, n_layers: int | None = None, head_name: str = "MultiHeadVer2"):
    return lambda lib, cfg: components.gpt(lib, "GPTVer4", cfg, ctx, n_layers, head_name)


# ---------------------------------------------------------------------------------------------------
# test_7: why more than one head?

def equally_expensive(backend, prof: Profile | None = None, corpus=None) -> Result:
    cfg = Config()
    x = np.zeros((1, cfg.block_size, cfg.embed_size), np.float32)
    multi = backend.create(lambda lib: components.head(lib, "MultiHeadVer1", cfg), x)
    single = backend.create(lambda lib: components.head(lib, "HeadVer4", cfg), x)
    n_multi, n_single = backend.param_count(multi, prefix="heads."), backend.param_count(single)
    return Result("test_head_ver_4_and_multi_head_ver_1_are_equally_expensive", backend.name,
                  {"MultiHeadVer1 heads' params": [n_multi], "HeadVer4(head_size=embed_size) params": [n_single]},
                  n_multi == n_single, f"{cfg.n_heads} heads x 3 x {cfg.embed_size}x{cfg.head_size} = {n_multi}, "
                  f"one head 3 x {cfg.embed_size}x{cfg.embed_size} = {n_single}")


def multi_head_helps(backend, prof: Profile, corpus: Corpus) -> Result:
    arms = {"MultiHeadVer1": gpt_with("MultiHeadVer1"), "HeadVer4": gpt_with("HeadVer4")}
    return compare(backend, "test_multi_head_helps", prof, corpus, arms, prof.max_iters,
                   claim=lower_mean("MultiHeadVer1", "HeadVer4"))


def multi_head_speed(backend, prof: Profile | None = None, corpus=None, calls: int = 10) -> Result:
    """Seconds for `calls` forward passes at B, T, C = 32, 64, 512 with 8 heads, compiled (jit) and op by op.

    Op by op (torch eager, JAX without jit) v2 wins: 3 (C, C) matmuls and one batched attention instead
    of 3 x n_heads (C, hs) matmuls, n_heads attentions and a concatenate, each paying dispatch and a pass
    over memory. Compiled, XLA sees both programs whole and they cost the same arithmetic: the claim on a
    compiling backend is that v2 is faster op by op and that jit makes v1 about as fast (v1/v2 < 1.5).
    """
    B, T, C, nh = 32, 64, 512, 8
    x = np.random.default_rng(0).standard_normal((B, T, C)).astype(np.float32)
    v1 = backend.create(lambda lib: lib.MultiHeadVer1(T, C, nh), x)
    v2 = backend.create(lambda lib: lib.MultiHeadVer2(T, C, nh), x)
    def paired(jit, rounds):  # v1 and v2 in turn: each pair of runs sees the same load on a shared machine
        t1, t2 = [], []
        for _ in range(rounds):
            t1.append(backend.timed_forward(v1, x, calls, jit=jit))
            t2.append(backend.timed_forward(v2, x, calls, jit=jit))
        return float(np.median(t1)), float(np.median(t2)), float(np.median(np.divide(t1, t2)))

    # Torch eager's margin is small at this size (v2 ~5-15% faster), so it takes 15 paired runs (~15 s) and the
    # median of their ratios to measure it; a compiling backend's margins (>= 1.2x op by op) show in 5.
    e1, e2, eager_ratio = paired(False, 5 if backend.compiles else 15)
    numbers = {"MultiHeadVer1 s (op by op)": [e1], "MultiHeadVer2 s (op by op)": [e2],
               "v1/v2 (op by op, median of paired runs)": [eager_ratio]}
    text = f"{calls} calls op by op: v1/v2 = {eager_ratio:.2f}x"
    holds = eager_ratio > 1
    if backend.compiles:
        j1, j2, jit_ratio = paired(True, 5)
        numbers["MultiHeadVer1 s (jit)"] = [j1]
        numbers["MultiHeadVer2 s (jit)"] = [j2]
        numbers["v1/v2 (jit, median of paired runs)"] = [jit_ratio]
        text += f"; jitted: v1/v2 = {jit_ratio:.2f}x (v2 {'faster' if jit_ratio > 1 else 'not faster'})"
        holds = holds and jit_ratio < 1.5
    return Result("test_multi_head_ver_2_is_faster_than_ver_1", backend.name, numbers, holds, text)


def multi_head_equal(backend, prof: Profile | None = None, corpus=None) -> Result:
    """v2 loaded with v1's per-head key/query/value weights concatenated (and v1's proj) gives v1's output."""
    B, T, C, nh = 1, 3, 8, 4
    x = np.random.default_rng(0).standard_normal((B, T, C)).astype(np.float32)
    v1 = backend.create(lambda lib: lib.MultiHeadVer1(T, C, nh), x, seed=0)
    v2 = backend.create(lambda lib: lib.MultiHeadVer2(T, C, nh), x, seed=1)
    w1 = backend.weights(v1)  # torch layout: heads.i.key.weight (hs, C)
    w2 = {f"{n}.weight": np.concatenate([w1[f"heads.{i}.{n}.weight"] for i in range(nh)], axis=0)  # (C, C)
          for n in ("key", "query", "value")}
    w2 |= {k: v for k, v in w1.items() if k.startswith("proj.")}
    backend.load_weights(v2, w2)
    y1, y2 = backend.forward(v1, x), backend.forward(v2, x)
    diff = float(np.abs(y1 - y2).max())
    return Result("test_multi_head_ver_1_and_multi_head_ver_2_are_logically_equal", backend.name,
                  {"max |v1 - v2|": [diff]}, diff < 1e-6, f"max abs diff {diff:.2e} (bound 1e-6, float32)")


# ---------------------------------------------------------------------------------------------------
# test_8: why a feed-forward, why residual connections?

def ffn_helps(backend, prof: Profile, corpus: Corpus) -> Result:
    arms = {"BlockVer1": gpt_with("BlockVer1", 1), "MultiHeadVer2": gpt_with("MultiHeadVer2")}
    return compare(backend, "test_ffn_helps", prof, corpus, arms, prof.max_iters,
                   claim=lower_mean("BlockVer1", "MultiHeadVer2"))


def residual_helps(backend, prof: Profile, corpus: Corpus) -> Result:
    n = Config().n_layers
    arms = {f"{n}xBlockVer2": gpt_with("BlockVer2", n), f"{n}xBlockVer1": gpt_with("BlockVer1", n)}
    return compare(backend, "test_residual_conn_helps_when_network_is_deep", prof, corpus, arms,
                   prof.deep_max_iters, claim=lower_mean(f"{n}xBlockVer2", f"{n}xBlockVer1"))


# ---------------------------------------------------------------------------------------------------
# test_9: why LayerNorm?

def layer_norm_normalizes(backend, prof: Profile | None = None, corpus=None) -> Result:
    """LayerNorm(512) on N(0, 1) (64, 512): per-row mean and (unbiased, as the curriculum's std) variance."""
    x = np.random.default_rng(0).standard_normal((64, 512)).astype(np.float32)
    ln = backend.create(lambda lib: lib.LayerNorm(512), x)
    y = backend.forward(ln, x)
    means, variances = y.mean(axis=-1), y.var(axis=-1, ddof=1)
    holds = bool(np.all(np.round(means, 4) == 0) and np.all(np.round(variances, 4) == 1))
    return Result("test_layer_norm_features_dim_is_properly_normalized", backend.name,
                  {"max |row mean|": [float(np.abs(means).max())],
                   "max |row var - 1|": [float(np.abs(variances - 1).max())]}, holds,
                  "every row's mean rounds to 0 and variance to 1 (4 decimals)")


def vanishing(backend, prof: Profile | None = None, corpus=None, depth: int = 1000) -> Result:
    """N(0, 1) (3, 64, 128) through `depth` fresh Linear(128, 128), without and with LayerNorm after each."""
    x0 = np.random.default_rng(0).standard_normal((3, 64, 128)).astype(np.float32)
    plain = backend.chain(lambda lib: [lib.layers.linear(128, 128)], x0, depth, seed=0)
    normed = backend.chain(lambda lib: [lib.layers.linear(128, 128), lib.LayerNorm(128)], x0, depth, seed=0)
    zeros_plain = bool(np.all(np.round(plain) == 0))
    zeros_normed = bool(np.all(np.round(normed) == 0))
    return Result("test_layer_norm_mitigates_vanishing_gradient", backend.name,
                  {"std without LayerNorm": [float(plain.std())], "std with LayerNorm": [float(normed.std())],
                   "share rounding to 0 without": [float(np.mean(np.round(plain) == 0))],
                   "share rounding to 0 with": [float(np.mean(np.round(normed) == 0))]},
                  zeros_plain and not zeros_normed,
                  f"after {depth} layers: without LayerNorm all round to 0: {zeros_plain}; with: {zeros_normed}")


def layer_norm_helps(backend, prof: Profile, corpus: Corpus) -> Result:
    n = Config().n_layers
    arms = {f"{n}xBlockVer3": gpt_with("BlockVer3", n), f"{n}xBlockVer2": gpt_with("BlockVer2", n)}
    return compare(backend, "test_layer_norm_helps_when_network_is_deep", prof, corpus, arms,
                   prof.deep_max_iters, claim=lower_mean(f"{n}xBlockVer3", f"{n}xBlockVer2"))


# ---------------------------------------------------------------------------------------------------
# test_10: why dropout?

def _block_v4(backend):
    B, T, C, nh = 32, 64, 512, 8
    x = np.random.default_rng(0).standard_normal((B, T, C)).astype(np.float32)
    return x, backend.create(lambda lib: lib.BlockVer4(lib.MultiHeadVer1(T, C, nh), C, 0.1), x)


def dropout_train_mode(backend, prof: Profile | None = None, corpus=None) -> Result:
    x, block = _block_v4(backend)
    outs = [backend.forward(block, x, train=True, seed=i) for i in range(4)]  # four dropout draws
    diffs = [float(np.abs(a - b).max()) for a, b in zip(outs, outs[1:])]
    return Result("test_block_ver_4_output_is_always_different_in_train_mode", backend.name,
                  {f"max |out{i} - out{i + 1}|": [d] for i, d in enumerate(diffs)}, all(d > 0 for d in diffs),
                  "train mode: consecutive outputs differ")


def dropout_eval_mode(backend, prof: Profile | None = None, corpus=None) -> Result:
    x, block = _block_v4(backend)
    outs = [backend.forward(block, x, train=False, seed=i) for i in range(4)]
    diffs = [float(np.abs(a - b).max()) for a, b in zip(outs, outs[1:])]
    return Result("test_block_ver_4_output_is_always_the_same_in_eval_mode", backend.name,
                  {f"max |out{i} - out{i + 1}|": [d] for i, d in enumerate(diffs)}, all(d == 0 for d in diffs),
                  "eval mode: all four outputs equal")


def dropout_helps(backend, prof: Profile, corpus: Corpus) -> Result:
    n = Config().n_layers
    better, worse = f"{n}xBlockVer4", f"{n}xBlockVer3"
    arms = {better: gpt_with("BlockVer4", n), worse: gpt_with("BlockVer3", n)}

    def claim(numbers):
        v_ok, v_text = lower_mean(better, worse)(numbers)
        t_ok, t_text = lower_mean(f"{worse} train", f"{better} train", "mean train loss")(numbers)
        return v_ok and t_ok, f"{v_text}; {t_text}"
    return compare(backend, "test_dropout_helps", prof, corpus, arms, prof.dropout_max_iters,
                   train_tokens=prof.dropout_train_tokens, claim=claim, extra_metrics=("train_loss",))


QUESTIONS: list[Question] = []  # filled below, in the seed's order
QUESTIONS += [
    Question("test_head_ver_4_and_multi_head_ver_1_are_equally_expensive", "test_7",
             "Is there a difference in computational cost between MultiHeadVer1 and HeadVer4? If not, why?",
             "No: n_heads heads of head_size C/n_heads hold 3 x C x C/n_heads weights each, 3 x C x C in all,\n"
             "exactly one head of head_size C; the heads split the width, they do not add parameters.",
             equally_expensive),
    Question("test_multi_head_helps", "test_7",
             "Which performs better, MultiHeadVer1 or HeadVer4, and why?",
             "MultiHeadVer1: each head computes its own attention pattern, so a token can attend to several\n"
             "places for several reasons at once; one wide head mixes all of them into a single softmax.",
             multi_head_helps),
    Question("test_multi_head_ver_2_is_faster_than_ver_1", "test_7",
             "MultiHeadVer2 and MultiHeadVer1 compute the same thing, yet MultiHeadVer2 is faster. Why?",
             "Op by op, v2 does 3 big (C, C) matmuls and one batched attention instead of 3 x n_heads small ones\n"
             "and a concatenate: fewer kernel launches, better-shaped matmuls. A compiler (jit) erases most of it.",
             multi_head_speed),
    Question("test_multi_head_ver_1_and_multi_head_ver_2_are_logically_equal", "test_7",
             "(Shown by the test) Are MultiHeadVer1 and MultiHeadVer2 the same function?",
             "Yes: v2's (C, C) query/key/value maps are v1's per-head (C, hs) maps side by side; reshaping to\n"
             "(B, T, nh, hs) separates the heads again, so with the same weights the outputs agree exactly.",
             multi_head_equal),
    Question("test_ffn_helps", "test_8",
             "Which performs better, MultiHeadVer2 or BlockVer1, and why?",
             "BlockVer1: attention only mixes tokens (a weighted average of values); the feed-forward then\n"
             "processes each token non-linearly, giving the model computation per position, not just routing.",
             ffn_helps),
    Question("test_residual_conn_helps_when_network_is_deep", "test_8",
             "Which performs better, BlockVer1 or BlockVer2, and why?",
             "BlockVer2: residual connections give gradients a straight path through the deep stack and let each\n"
             "block learn a correction to its input, so the deep network trains; without them it barely learns.",
             residual_helps),
    Question("test_layer_norm_features_dim_is_properly_normalized", "test_9",
             "What characterises the output of LayerNorm?",
             "Along the feature axis every row has mean 0 and variance 1 (before gamma and beta, which start at\n"
             "1 and 0): the scale of the activations is reset at each LayerNorm, whatever came in.",
             layer_norm_normalizes),
    Question("test_layer_norm_mitigates_vanishing_gradient", "test_9",
             "How does LayerNorm mitigate the vanishing-gradient problem?",
             "Each Linear layer shrinks its input's scale (here by about 1/3 in variance), so after many layers\n"
             "the signal, and the gradient through it, vanishes; LayerNorm rescales to variance 1 at every layer.",
             vanishing),
    Question("test_layer_norm_helps_when_network_is_deep", "test_9",
             "Which performs better, BlockVer2 or BlockVer3, and why?",
             "BlockVer3: with residuals alone the residual stream's scale grows block after block; LayerNorm at\n"
             "each branch's input keeps what attention and the feed-forward see well-scaled, so training is easier.",
             layer_norm_helps),
    Question("test_block_ver_4_output_is_always_different_in_train_mode", "test_10",
             "Why is BlockVer4's output different every time in train mode?",
             "Dropout draws a fresh random mask on every call in train mode (a new dropout key in Flax), zeroing\n"
             "a different 10% of the branch outputs and scaling the rest by 1/0.9.",
             dropout_train_mode),
    Question("test_block_ver_4_output_is_always_the_same_in_eval_mode", "test_10",
             "Why is BlockVer4's output always the same in eval mode?",
             "In eval mode (deterministic=True) dropout is the identity: no randomness is left, and the\n"
             "1/(1-p) scaling in training already made the expected activations match.",
             dropout_eval_mode),
    Question("test_dropout_helps", "test_10",
             "Which performs better, BlockVer3 or BlockVer4, and why?",
             "BlockVer4 when the model can overfit: dropout keeps it from relying on any one unit, so it fits\n"
             "the training text less closely (higher train loss) and generalises better (lower val loss).",
             dropout_helps),
]

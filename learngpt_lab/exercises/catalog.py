"""The exercises: each TODO of the curriculum's two weeks, the class and methods it asks for, the registry
component that builds it with the curriculum's arguments, and the question the step answers.

Week 2's TODOs are the seed's (shared/seed/learngpt-week2.md: TODO 1, 2-1, 2-2, 2-3, 3-1, 3-2, 4), in English;
week 1's follow its test files (test_1 .. test_6): the bigram, the four heads, the position encodings, the GPTs.
"""
from __future__ import annotations

from dataclasses import dataclass

from learngpt.errors import UserError
from learngpt_lab import backends

FRAMEWORKS = backends.NAMES  # flax: Flax linen
LABELS = {name: entry.label for name, entry in backends.BACKENDS.items()}  # name -> "Flax linen"
# a torch method name -> the method that plays its part in each framework (DESIGN.md's mirror table)
METHODS = {name: {"__init__": entry.init_method, "forward": entry.forward_method}
           for name, entry in backends.BACKENDS.items()}


@dataclass(frozen=True)
class Exercise:
    name: str  # the class the learner writes (and the file's class)
    week: int
    todo: str  # the curriculum's TODO number ("1", "2-1", ...) or, in week 1, its test file
    text: str  # the curriculum's TODO, in English
    methods: tuple[str, ...]  # torch names of the methods whose bodies the learner writes
    component: str  # the registry component (learngpt.components) built with the curriculum's arguments
    question: str  # the question the step answers (learngpt_lab/questions), asked of the learner's module
    dropout: bool = False  # the step has dropout: train/eval behaviour is graded

    def methods_in(self, framework: str) -> tuple[str, ...]:
        return tuple(METHODS[framework][m] for m in self.methods)

    @property
    def takes_tokens(self) -> bool:
        return self.name.startswith("GPTVer")


EXERCISES = (
    # week 1 (test_1 .. test_6)
    Exercise("GPTVer1", 1, "test_1",
             "Implement GPTVer1.forward, the bigram model: the logits of the next token are the row of the "
             "embedding table for the current token; return (logits, loss).",
             ("forward",), "GPTVer1", "test_gpt_ver_1_beats_the_uniform_baseline"),
    Exercise("HeadVer1", 1, "test_2",
             "Implement HeadVer1.forward: each position's output is the mean of the inputs at that position and "
             "every one before it, written as a loop over the positions.",
             ("forward",), "HeadVer1", "test_head_ver_1_averages_the_past"),
    Exercise("GPTVer2", 1, "test_2",
             "Implement GPTVer2.forward: token embeddings, then the contextualizer (a head), then lm_head; no "
             "position information yet; return (logits, loss).",
             ("forward",), "GPTVer2(HeadVer4)", "test_word_order_is_lost_without_positions"),
    Exercise("HeadVer2", 1, "test_3",
             "Implement HeadVer2.forward: the same running mean as one matrix product, a lower-triangular matrix of "
             "ones with each row divided by its sum, times x.",
             ("forward",), "HeadVer2", "test_head_ver_2_equals_head_ver_1"),
    Exercise("HeadVer3", 1, "test_4",
             "Implement HeadVer3.forward: build the same weights as a softmax of zeros whose future positions are "
             "masked with -inf; keep the weights as the attentions; return weights @ x.",
             ("forward",), "HeadVer3", "test_head_ver_3_weights_sum_to_1_and_the_future_is_zero"),
    Exercise("HeadVer4", 1, "test_5",
             "Implement HeadVer4.forward, one self-attention head: key, query and value projections, the scores "
             "q @ k^T scaled by embed_size ** -0.5, the causal mask, softmax over the last axis, weights @ v; keep "
             "the scores' variance and the weights.",
             ("forward",), "HeadVer4(C/n_heads)", "test_head_ver_4_weights_are_masked_and_normalised"),
    Exercise("PositionalEncoding", 1, "test_6",
             "Implement PositionalEncoding.forward: add position encoding number `version` "
             "(learngpt.positions.encoding) for the first T positions to x.",
             ("forward",), "PositionalEncoding(v4)", "test_position_encodings_properties"),
    Exercise("GPTVer3", 1, "test_6",
             "Implement GPTVer3.forward: GPTVer2 plus the fixed sinusoidal position table added to the token "
             "embeddings before the contextualizer; return (logits, loss).",
             ("forward",), "GPTVer3(HeadVer4)", "test_gpt_ver_3_logits_differ_by_position"),
    # week 2 (the seed's TODOs)
    Exercise("MultiHeadVer1", 2, "1",
             "Implement MultiHeadVer1.forward: pass the input x through the n_heads self-attention heads, "
             "concatenate the heads' outputs, then pass the result through the projection layer (a linear layer).",
             ("forward",), "MultiHeadVer1", "test_multi_head_helps"),
    Exercise("FeedForward", 2, "2-1", "Implement FeedForward.",
             ("__init__", "forward"), "FeedForward", "test_ffn_helps"),
    Exercise("BlockVer1", 2, "2-2",
             "Implement BlockVer1.forward: pass the input through the multi-head attention, then through the "
             "feed-forward layer.",
             ("forward",), "BlockVer1", "test_ffn_helps"),
    Exercise("BlockVer2", 2, "2-3",
             "Implement BlockVer2.forward: add a residual connection around the multi-head attention and another "
             "around the feed-forward.",
             ("forward",), "BlockVer2", "test_residual_conn_helps_when_network_is_deep"),
    Exercise("LayerNorm", 2, "3-1", "Implement the LayerNorm that BlockVer3 uses.",
             ("__init__", "forward"), "LayerNorm", "test_layer_norm_features_dim_is_properly_normalized"),
    Exercise("BlockVer3", 2, "3-2",
             "Implement BlockVer3.forward: add LayerNorm in two places, as in the figure: at the input of the "
             "multi-head attention and at the input of the feed-forward.",
             ("forward",), "BlockVer3", "test_layer_norm_helps_when_network_is_deep"),
    Exercise("BlockVer4", 2, "4",
             "Implement BlockVer4.__init__: add the dropout layers, two of them: on the output of the multi-head "
             "attention and on the output of the feed-forward.",
             ("__init__",), "BlockVer4", "test_block_ver_4_output_is_always_different_in_train_mode",
             dropout=True),
)
BY_NAME = {e.name: e for e in EXERCISES}


def get(name: str) -> Exercise:
    if name not in BY_NAME:
        raise UserError(f"unknown exercise {name!r}; expected one of {', '.join(BY_NAME)}")
    return BY_NAME[name]


def check_framework(framework: str) -> str:
    if framework not in FRAMEWORKS:
        raise UserError(f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)} "
                        f"(flax is Flax linen)")
    return framework

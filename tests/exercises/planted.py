"""Planted bugs: for every exercise, the reference solution with a learner's mistake put in (text substitutions
on the solution file of each framework, so the bug cannot drift from the lesson), the stage it must fail at and
words the grader's hint must contain. TORCH / JAX: the substitution for torch, for linen and NNX alike; a dict
names each framework's own."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bug:
    exercise: str
    what: str
    edits: dict  # framework -> [(old, new), ...]; each old must occur exactly once in the solution file
    stage: int
    hint: str  # words the report must contain
    stages: dict | None = None  # framework -> the stage where it differs from `stage`

    def stage_in(self, framework: str) -> int:
        return (self.stages or {}).get(framework, self.stage)


def _all(*edits):
    return {"torch": list(edits), "flax": list(edits), "nnx": list(edits)}


def _tj(torch_edits, jax_edits):
    return {"torch": list(torch_edits), "flax": list(jax_edits), "nnx": list(jax_edits)}


BUGS = (
    Bug("GPTVer1", "the logits through a softmax",
        _tj([("logits = self.token_embedding_table(idx)", "logits = self.token_embedding_table(idx).softmax(-1)")],
            [("logits = self.token_embedding_table(idx)",
              "logits = jax.nn.softmax(self.token_embedding_table(idx), axis=-1)")]),
        4, "softmax probabilities"),
    Bug("HeadVer1", "the mean over the future", _all(("xprev = x[:, : t + 1]", "xprev = x[:, t:]")), 4,
        "over the future"),
    Bug("GPTVer2", "positions added",
        {"torch": [("x = self.contextualizer(tok_emb)",
                    "x = self.contextualizer(tok_emb + self.positions(tok_emb.shape[1], tok_emb))")],
         "flax": [("x = self.contextualizer(tok_emb, deterministic)",
                   "x = self.contextualizer(tok_emb + self.positions(tok_emb.shape[1], tok_emb), deterministic)")],
         "nnx": [("x = self.contextualizer(tok_emb)",
                  "x = self.contextualizer(tok_emb + self.positions(tok_emb.shape[1], tok_emb))")]},
        4, "positions added"),
    Bug("HeadVer2", "rows not normalised",
        _tj([("tril / tril.sum(dim=1, keepdim=True)", "tril")], [("tril / tril.sum(axis=1, keepdims=True)", "tril")]),
        4, "a running sum, not a mean"),
    Bug("HeadVer3", "softmax over the wrong axis",
        _tj([("F.softmax(wei, dim=-1)", "F.softmax(wei, dim=0)")], [("jax.nn.softmax(wei, axis=-1)",
                                                                     "jax.nn.softmax(wei, axis=0)")]),
        4, "wrong axis"),
    Bug("HeadVer4", "the 1/sqrt scale missing", _all((" * C ** -0.5", "")), 4, "1/sqrt scale is missing"),
    Bug("HeadVer4", "the paper's head_size scale",
        _all((" * C ** -0.5", " * k.shape[-1] ** -0.5")), 4, "head_size ** -0.5"),
    Bug("PositionalEncoding", "x times the table", _all(("out = x + pe", "out = x * pe")), 4, "multiplied"),
    Bug("GPTVer3", "positions missing", _all(("x = tok_emb + self.positions(T, tok_emb)", "x = tok_emb")), 4,
        "positions are missing"),
    Bug("MultiHeadVer1", "concatenated along the time axis",
        _tj([("dim=-1)  # n_heads", "dim=1)  # n_heads")], [("axis=-1)  # n_heads", "axis=1)  # n_heads")]),
        4, "concatenated along the feature axis", {"flax": 3}),  # linen infers proj's input width: a shape
    Bug("FeedForward", "no ReLU",
        {"torch": [("nn.ReLU(),", "nn.Identity(),")], "flax": [("nn.relu,", "lambda h: h,")],
         "nnx": [("nnx.relu,", "lambda h: h,")]}, 4, "ReLU is missing"),
    Bug("BlockVer1", "residuals added",
        {"torch": [("x = self.head(x)", "x = x + self.head(x)"), ("x = self.ffwd(x)", "x = x + self.ffwd(x)")],
         "flax": [("x = self.head(x, deterministic)", "x = x + self.head(x, deterministic)"),
                  ("x = self.ffwd(x)", "x = x + self.ffwd(x)")],
         "nnx": [("x = self.head(x)", "x = x + self.head(x)"), ("x = self.ffwd(x)", "x = x + self.ffwd(x)")]},
        4, "residual connections added"),
    Bug("BlockVer2", "the feed-forward's residual forgotten", _all(("x = x + self.ffwd(x)", "x = self.ffwd(x)")), 4,
        "a residual forgotten"),
    Bug("LayerNorm", "the biased variance", _tj([("correction=1)", "correction=0)")], [("ddof=1)", "ddof=0)")]), 4,
        "biased variance"),
    Bug("LayerNorm", "the std cut from the graph",
        _tj([("correction=1)", "correction=1).detach()")], [("ddof=1)", "ddof=1); std = jax.lax.stop_gradient(std)")]),
        5, "cuts the graph"),
    Bug("BlockVer3", "LayerNorm after each sum (post-norm)",
        {"torch": [("x = x + self.head(self.ln1(x))", "x = self.ln1(x + self.head(x))"),
                   ("x = x + self.ffwd(self.ln2(x))", "x = self.ln2(x + self.ffwd(x))")],
         "flax": [("x = x + self.head(self.ln1(x), deterministic)", "x = self.ln1(x + self.head(x, deterministic))"),
                  ("x = x + self.ffwd(self.ln2(x))", "x = self.ln2(x + self.ffwd(x))")],
         "nnx": [("x = x + self.head(self.ln1(x))", "x = self.ln1(x + self.head(x))"),
                 ("x = x + self.ffwd(self.ln2(x))", "x = self.ln2(x + self.ffwd(x))")]},
        4, "post-norm"),
    Bug("BlockVer4", "the rate kept, not dropped",
        {"torch": [("self.drop1 = nn.Dropout(dropout)", "self.drop1 = nn.Dropout(1 - dropout)")],
         "flax": [("self.drop1 = nn.Dropout(self.dropout)", "self.drop1 = nn.Dropout(1 - self.dropout)")],
         "nnx": [("self.drop1 = nnx.Dropout(dropout,", "self.drop1 = nnx.Dropout(1 - dropout,")]},
        6, "the fraction dropped, not kept"),
    Bug("BlockVer4", "a library LayerNorm",
        {"torch": [("self.ln1 = LayerNorm(embed_size)", "self.ln1 = nn.LayerNorm(embed_size)")],
         "flax": [("self.ln1 = LayerNorm(self.embed_size)", "self.ln1 = nn.LayerNorm()")],
         "nnx": [("self.ln1 = LayerNorm(embed_size)", "self.ln1 = nnx.LayerNorm(embed_size, rngs=rngs)")]},
        3, "library LayerNorm"),
)


def planted(bug: Bug, framework: str) -> str:
    """The solution file of bug.exercise in framework with the bug put in (each edit's old text found once)."""
    from learngpt_lab.exercises import catalog, generate

    text = generate.solution_path(catalog.get(bug.exercise), framework).read_text(encoding="utf-8")
    for old, new in bug.edits[framework]:
        count = text.count(old)
        if count != 1:
            raise AssertionError(f"{bug.exercise} [{framework}] {bug.what}: {old!r} occurs {count} times in the "
                                 f"solution file, expected once")
        text = text.replace(old, new)
    return text

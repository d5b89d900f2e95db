"""A lesson: one component's mirrored files side by side, aligned line for line, each framework difference
annotated from the mirror table (DESIGN.md's torch / linen / NNX idioms, NOTES below), for the terminal or as
one self-contained HTML page. Framework-free: the files are read as text; the parity numbers (a recorded
row, the live tables, the weight mapping) are handed in by the caller (`learngpt lesson`, which runs them).
"""
from __future__ import annotations

import difflib
import html
import importlib.util
import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from learngpt import components
from learngpt.errors import ConfigError
from learngpt_lab import backends

ROOT = Path(__file__).resolve().parent.parent
# `learngpt parity`'s recorded table (tools/parity_components.py writes it): package data beside this module,
# in a checkout and in an installed wheel alike
PARITY_RECORD = Path(__file__).resolve().parent / "data" / "parity.json"
PACKAGES = {name: entry.package for name, entry in backends.BACKENDS.items()}  # name -> its lesson package
LABELS = {name: entry.label for name, entry in backends.BACKENDS.items()}  # name -> "Flax linen"
SIDES = (backends.REFERENCE, backends.PORTS[0])  # a lesson's sides unless told: torch beside linen
CLASS = re.compile(r"^class (\w+)\b", re.M)
TOKENS = re.compile(r"[A-Z][A-Za-z]*Ver\d+|FeedForward|LayerNorm|PositionalEncoding|Sequential")


@dataclass(frozen=True)
class Note:
    """One entry of the mirror table: a line of side `a` matching `a_pattern` beside a line of side `b`
    matching `b_pattern` (None: any line, or none) is this framework difference."""
    key: str
    pair: str  # "torch-flax" or "flax-nnx"
    a_pattern: str | None
    b_pattern: str | None
    text: str

    def matches(self, a: str | None, b: str | None) -> bool:
        """Both given lines match their patterns; a line alone on its row (the other None) matches when its
        own side's pattern does."""
        sides = [(self.a_pattern, a), (self.b_pattern, b)]
        if a is None or b is None:
            sides = [(p, line) for p, line in ((self.a_pattern, a), (self.b_pattern, b)) if line is not None]
            if all(p is None for p, _ in sides):
                return False
        return all(p is None or re.search(p, line) for p, line in sides)


NOTES = (
    Note("imports", "torch-flax", r"^(import torch|from torch)", r"^(import jax|from flax)",
         "torch and torch.nn become jax, jax.numpy (jnp) and flax.linen (nn): the same names, other libraries"),
    Note("own-package", "torch-flax", r"^from learngpt_torch", r"^from learngpt_flax",
         "each backend imports its own twin of every file; neither imports the other"),
    Note("fields", "torch-flax", None, r"^    \w+: [\w.| ]+$",
         "a linen Module is a dataclass: its constructor arguments are fields, declared on the class (torch takes "
         "them in __init__ and stores them itself)"),
    Note("init", "torch-flax", r"def __init__\(", None,
         "torch builds the submodules in __init__; linen builds the same submodules, under the same names, in "
         "setup(), and checks its arguments in __post_init__"),
    Note("super", "torch-flax", r"super\(\).__init__\(", None,
         "nn.Module.__init__ must run before torch can register submodules; a linen dataclass needs no __init__"),
    Note("post-init", "torch-flax", None, r"def __post_init__|super\(\).__post_init__\(",
         "linen checks the fields in __post_init__ and then calls the dataclass's own (which registers the module)"),
    Note("setup", "torch-flax", None, r"def setup\(",
         "setup() is linen's __init__ for submodules: called lazily, when the module is bound to its variables"),
    Note("forward", "torch-flax", r"def forward\(", r"def __call__\(",
         "forward(x) becomes __call__(x, deterministic=True): a linen module is a function of its params and "
         "input; whether dropout is on is an argument passed down, not module state (torch's train()/eval())"),
    Note("deterministic", "torch-flax", None, r"deterministic\)",
         "linen passes `deterministic` to every submodule that has dropout; torch reads self.training, set by "
         "model.train() / model.eval()"),
    Note("dropout", "torch-flax", r"nn\.Dropout\(", r"nn\.Dropout\(",
         "torch's Dropout draws from the global generator; linen's from the 'dropout' rng given to apply()"),
    Note("buffer", "torch-flax", r"register_buffer\(", None,
         "a torch buffer (state, not a parameter) has no linen twin: the mask is a constant computed in __call__"),
    Note("mask", "torch-flax", r"masked_fill\(", r"jnp\.where\(",
         "tensor.masked_fill(mask, v) becomes jnp.where(keep, x, v): JAX arrays are immutable, every op returns "
         "a new one; the mask is built on the spot (jnp.tril) instead of read from a buffer"),
    Note("sow", "torch-flax", r"self\.\w+ = wei\b|self\.var = ", r"self\.sow\(",
         "an attribute set in forward (self.attentions) becomes self.sow('intermediates', name, value): a linen "
         "module cannot keep state; apply(..., mutable=['intermediates']) returns what it sowed"),
    Note("transpose", "torch-flax", r"\.transpose\(", r"\.swapaxes\(",
         "torch's transpose(a, b) swaps two axes; numpy and JAX call it swapaxes (their transpose permutes all)"),
    Note("view", "torch-flax", r"\.view\(", r"\.reshape\(",
         "view() reshapes without copying in torch; JAX has only reshape (XLA decides what is copied)"),
    Note("softmax", "torch-flax", r"F\.softmax\(.*dim=", r"softmax\(.*axis=",
         "torch names the axis `dim`, numpy and JAX `axis`"),
    Note("ops", "torch-flax", r"torch\.(cat|stack|einsum|arange|tril|ones|zeros)\(",
         r"jnp\.(concatenate|stack|einsum|arange|tril|ones|zeros)\(",
         "torch.* tensor functions become jnp.* (torch.cat is jnp.concatenate); the same maths"),
    Note("device", "torch-flax", r"device=", None,
         "torch places each new tensor on a device; JAX puts it on the default device (or where jit says)"),
    Note("types", "torch-flax", r"torch\.Tensor", r"jax\.Array",
         "torch.Tensor becomes jax.Array in the annotations"),
    Note("no-grad", "torch-flax", r"@torch\.no_grad\(\)", None,
         "torch records every op for backward unless told not to; JAX differentiates only what jax.grad is given"),
    Note("sample", "torch-flax", r"torch\.multinomial\(", r"jax\.random\.categorical\(",
         "torch samples from a stateful Generator; JAX from an explicit key (self.make_rng('sample') in linen)"),
    Note("linear", "torch-flax", r"nn\.Linear\(", r"nn\.Dense\(",
         "nn.Linear(in, out) becomes nn.Dense(out): Flax reads the input width at init; the initialisers differ, "
         "so layers.py states torch's on both sides"),
    Note("embedding", "torch-flax", r"nn\.Embedding\(", r"nn\.Embed\(",
         "nn.Embedding becomes nn.Embed; torch draws N(0, 1), Flax N(0, 1/features) unless told: stated here"),
    Note("nnx-imports", "flax-nnx", r"from flax import linen", r"from flax import nnx",
         "linen (Flax's older API: modules are dataclasses, params live outside) becomes nnx (the API the Flax "
         "docs now lead with: modules are Python objects holding their params, as in torch)"),
    Note("nnx-own-package", "flax-nnx", r"^from learngpt_flax", r"^from learngpt_nnx",
         "each backend imports its own twin of every file"),
    Note("nnx-init", "flax-nnx", r"def setup\(|^    \w+: [\w.| ]+$|def __post_init__", r"def __init__\(",
         "NNX builds submodules in __init__, as torch does, drawing their initial values from `rngs` at once; "
         "linen declares fields and builds lazily in setup()"),
    Note("nnx-rngs", "flax-nnx", None, r"rngs",
         "NNX modules take an nnx.Rngs: parameters are drawn when the module is built, not by a later init()"),
    Note("nnx-call", "flax-nnx", r"deterministic", r"def __call__\(|self\.\w+\(",
         "NNX drops the `deterministic` argument: model.train() / model.eval() set it on every Dropout, "
         "as torch does"),
    Note("nnx-sow", "flax-nnx", r"self\.sow\(", r"nnx\.Intermediate\(|self\.sow\(",
         "linen's sow('intermediates', ...) becomes an nnx.Intermediate attribute (or sow(nnx.Intermediate, ...)): "
         "NNX modules may hold state"),
    Note("nnx-dropout", "flax-nnx", r"nn\.Dropout\(", r"nnx\.Dropout\(",
         "nnx.Dropout holds its own rng stream from `rngs`; linen's asked apply() for a 'dropout' rng"),
)


@dataclass
class Row:
    """One aligned line pair: tag ' ' equal, '~' changed, '<' only on side a, '>' only on side b."""
    a_no: int | None
    a: str | None
    b_no: int | None
    b: str | None
    tag: str
    notes: list[int] = field(default_factory=list)  # indexes into the pair's `notes`


@dataclass
class Pair:
    """Two backends' files of one class, aligned, with the mirror-table notes found in them."""
    sides: tuple[str, str]
    paths: tuple[Path, Path]
    rows: list[Row]
    notes: list[Note]


@dataclass
class Lesson:
    name: str
    classes: list[str]
    pairs: list[Pair]
    parity_component: str | None = None
    recorded: list[str] = field(default_factory=list)  # PARITY_RECORD's header and row
    recorded_when: str = ""
    live: list[str] = field(default_factory=list)  # the live tables, one text per dtype / pair
    mapping: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # JAX side -> (torch key, path,
    #                                                                               transform) for each weight

    def mapping_rows(self) -> tuple[list[str], list[list[str]]]:
        """(the JAX sides, one row per torch key: the key, then each side's path and transform)."""
        sides = list(self.mapping)
        found: dict[str, dict[str, tuple[str, str]]] = {}
        for side in sides:
            for key, path, transform in self.mapping[side]:
                found.setdefault(key, {})[side] = (path, transform)
        rows = [[key] + [x for side in sides for x in found[key].get(side, ("-", "-"))] for key in sorted(found)]
        return sides, rows


def defined_classes(package: str = "learngpt_torch") -> dict[str, Path]:
    """class name -> the file of `package` that defines it."""
    found = {}
    for path in sorted((ROOT / package).glob("*.py")):
        for name in CLASS.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, path)
    return found


def classes_of(name: str) -> list[str]:
    """The classes a lesson on `name` shows, outermost first: a registry name's (NanoGPT: GPTVer4, BlockVer4,
    MultiHeadVer2), a class name, or a mirrored file's stem (lm, trainer: its classes, or the file itself)."""
    known = defined_classes()
    if name in components.REGISTRY:
        arch = components.REGISTRY[name].architecture
        if arch is not None:
            names = [arch.gpt] + ([arch.contextualizer] if arch.contextualizer else [])
            names += [arch.head] if arch.contextualizer in components.BLOCKS else []
        else:
            names = TOKENS.findall(name)
        names = [n if n in known else n.replace("PostNorm", "") for n in names]
        return list(dict.fromkeys(n for n in names if n in known))
    if name in known:
        return [name]
    if (ROOT / PACKAGES["torch"] / f"{name}.py").is_file():
        return [f"{name}.py"]
    raise ConfigError(f"no lesson for {name!r}; expected a registry name ({', '.join(components.REGISTRY)}), a class "
                      f"of learngpt_torch (e.g. GPTVer4) or a file stem (lm, trainer)")


def parity_component(name: str) -> str | None:
    """The registry component whose parity a lesson on `name` shows: itself, or the first that uses its class."""
    if name in components.REGISTRY:
        return name
    return next((n for n in components.REGISTRY if classes_of(n)[:1] == [name]), None)


def recorded(component: str, path: Path = PARITY_RECORD) -> tuple[list[str], str]:
    """(the recorded table's column header and `component`'s lines, when and how they were recorded) from the
    results file `learngpt parity` is recorded into (tools/parity_components.py); ([], "") if it has none."""
    if not path.is_file():
        return [], ""
    found = json.loads(path.read_text(encoding="utf-8"))
    lines, rows = found.get("lines", []), []
    for k, line in enumerate(lines):
        if line.split()[:1] == [component]:
            rows = [line]
            for more in lines[k + 1:]:
                if not more.startswith(" "):
                    break
                rows.append(more)
            break
    if not rows:
        return [], ""
    cond = found.get("conditions", {})
    when = f"{found.get('created', '?')}, `{found.get('command', 'learngpt parity')}`, seed {found.get('seed')}, " \
           f"torch threads {cond.get('torch_threads', '?')}"
    return [lines[1], *rows], when


def file_of(cls: str, side: str) -> Path:
    stem = cls if cls.endswith(".py") else defined_classes()[cls].name
    return ROOT / PACKAGES[side] / stem


def _similarity(a: str, b: str, twins: tuple[Note, ...] = ()) -> float:
    """How alike two lines read, 0..1 (indentation ignored); a blank line pairs with a blank one only, weakly;
    lines a note of the mirror table names as twins (forward / __call__) pair as if nearly equal."""
    a, b = a.strip(), b.strip()
    if not a or not b:
        return 0.2 if a == b else 0.0
    code_a, code_b = a.split("  # ")[0], b.split("  # ")[0]  # a comment on one side only does not part them
    if code_a and code_b:
        a, b = code_a, code_b
    if any(note.matches(a, b) for note in twins):
        return 0.9
    if (a.startswith("def ") != b.startswith("def ")) or (a.startswith("class ") != b.startswith("class ")):
        return 0.0
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sm.ratio() if sm.real_quick_ratio() > PAIRED and sm.quick_ratio() > PAIRED else 0.0


PAIRED = 0.6  # two different lines share a row when their similarity is above this


def align(a: list[str], b: list[str], pair: str = "torch-flax") -> list[Row]:
    """a and b line for line, in order: the pairing of lines that maximises the summed similarity of the
    paired lines (a weighted longest common subsequence; lines alike below PAIRED stay alone)."""
    n, m = len(a), len(b)
    twins = tuple(t for t in NOTES if t.pair == pair and t.a_pattern and t.b_pattern
                  and t.key in ("forward", "linear", "embedding", "mask", "sow", "nnx-sow", "sample", "nnx-init"))
    sim = [[_similarity(x, y, twins) for y in b] for x in a]
    best = [[0.0] * (m + 1) for _ in range(n + 1)]  # best[i][j]: a[i:] against b[j:]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            pair = best[i + 1][j + 1] + sim[i][j] if sim[i][j] > 0 else -1.0
            best[i][j] = max(pair, best[i + 1][j], best[i][j + 1])
    rows, i, j = [], 0, 0
    while i < n or j < m:
        if i < n and j < m and sim[i][j] > 0 and best[i][j] == best[i + 1][j + 1] + sim[i][j]:
            rows.append(Row(i + 1, a[i], j + 1, b[j], " " if a[i] == b[j] else "~"))
            i, j = i + 1, j + 1
        elif i < n and (j == m or best[i][j] == best[i + 1][j]):
            rows.append(Row(i + 1, a[i], None, None, "<"))
            i += 1
        else:
            rows.append(Row(None, None, j + 1, b[j], ">"))
            j += 1
    return rows


def annotate(rows: list[Row], pair: str) -> list[Note]:
    """Mark each differing row with the mirror-table notes it matches; the notes found, in order of first use."""
    used: list[Note] = []
    for row in rows:
        if row.tag == " ":
            continue
        for note in NOTES:
            if note.pair == pair and note.matches(row.a, row.b):
                if note not in used:
                    used.append(note)
                row.notes.append(used.index(note))
    return used


def build(name: str, sides: tuple[str, ...] = SIDES) -> Lesson:
    """The lesson on `name`: for each class, each consecutive pair of `sides` aligned and annotated."""
    for side in sides:
        if side not in PACKAGES:
            raise ConfigError(f"unknown backend {side!r}; expected one of {', '.join(PACKAGES)}")
        if not (ROOT / PACKAGES[side]).is_dir() or importlib.util.find_spec(PACKAGES[side]) is None:
            raise ConfigError(f"the {side} backend ({PACKAGES[side]}) is not installed here")
    classes = classes_of(name)
    pairs = []
    for cls in classes:
        for a, b in zip(sides, sides[1:]):
            paths = (file_of(cls, a), file_of(cls, b))
            if paths in [pr.paths for pr in pairs]:
                continue
            lines = [p.read_text(encoding="utf-8").splitlines() for p in paths]
            rows = align(*lines, f"{a}-{b}")
            pairs.append(Pair((a, b), paths, rows, annotate(rows, f"{a}-{b}")))
    return Lesson(name, classes, pairs, parity_component(name))


def _cells(text: str | None, width: int) -> list[str]:
    if not text:
        return [""]
    return textwrap.wrap(text, width, drop_whitespace=False, replace_whitespace=False,
                         subsequent_indent="  ") or [""]


def _mark(notes: list[int]) -> str:
    return "".join(f"[{n + 1}]" for n in notes)


def terminal(lesson: Lesson, width: int = 200) -> str:
    """The lesson as text `width` characters wide: per file pair, both columns (gutter ' ' equal, '~' changed,
    '<' '>' one side only, [n] the notes), then the notes, then the parity sections."""
    out = [f"lesson {lesson.name}: {', '.join(lesson.classes)}"]
    for pair in lesson.pairs:
        col = max(30, (width - 4 - 2 * 4 - 3 - 8) // 2)
        out += ["", f"{pair.paths[0].relative_to(ROOT)}  |  {pair.paths[1].relative_to(ROOT)}   "
                    f"({LABELS[pair.sides[0]]} | {LABELS[pair.sides[1]]})"]
        for row in pair.rows:
            left, right = _cells(row.a, col), _cells(row.b, col)
            for k in range(max(len(left), len(right))):
                a = left[k] if k < len(left) else ""
                b = right[k] if k < len(right) else ""
                an = f"{row.a_no:>4}" if row.a_no and k == 0 else "    "
                bn = f"{row.b_no:>4}" if row.b_no and k == 0 else "    "
                tag = row.tag if k == 0 else " "
                out.append(f"{an} {a:<{col}} {tag} {bn} {b:<{col}} {_mark(row.notes) if k == 0 else ''}".rstrip())
        if pair.notes:
            out.append(f"notes ({LABELS[pair.sides[0]]} -> {LABELS[pair.sides[1]]}, the mirror table):")
            out += [textwrap.fill(f"[{i + 1}] {n.text}", width, subsequent_indent="    ")
                    for i, n in enumerate(pair.notes)]
    out += ["", *parity_text(lesson)]
    return "\n".join(out)


def parity_text(lesson: Lesson) -> list[str]:
    if lesson.parity_component is None:
        return [f"parity: {lesson.name} is not a component of the registry (no parity row)"]
    out = [f"parity of {lesson.parity_component}, recorded ({lesson.recorded_when}):" if lesson.recorded else
           f"parity of {lesson.parity_component}: no recorded row in learngpt_lab/data/parity.json"]
    out += [f"  {line}" for line in lesson.recorded]
    for text in lesson.live:
        out += ["", text]
    sides, rows = lesson.mapping_rows()
    if rows:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out += ["", f"weights: torch key -> {' and '.join(LABELS[s] + ' path' for s in sides)} (transform), "
                    f"{len(rows)} tensors"]
        for r in rows:
            out.append(f"  {r[0]:<{widths[0]}}" + "".join(f"  ->  {r[i]:<{widths[i]}}  ({r[i + 1]})"
                                                          for i in range(1, len(r), 2)).rstrip())
    return out


def _diff_spans(a: str, b: str) -> tuple[str, str]:
    """a and b escaped, the characters where they differ inside <mark>."""
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    ha, hb = [], []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        x, y = html.escape(a[i1:i2]), html.escape(b[j1:j2])
        ha.append(x if op == "equal" or not x else f"<mark>{x}</mark>")
        hb.append(y if op == "equal" or not y else f"<mark>{y}</mark>")
    return "".join(ha), "".join(hb)


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#1b1b1b;background:#fff}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:1.6em} h3{font-size:1em}
table{border-collapse:collapse} .code{width:100%;table-layout:fixed;font-size:12px}
.code td{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all;
 vertical-align:top;padding:0 .4em;border-bottom:1px solid #f0f0f0}
.code td.no{width:2.5em;color:#888;text-align:right;user-select:none} .code td.nt{width:3.5em;color:#6a3d9a}
.code th{text-align:left;background:#f4f4f4;padding:.3em .4em;font-weight:600}
tr.chg td.src{background:#fff8e1} tr.del td.a,tr.ins td.b{background:#fdecea}
tr.ins td.a,tr.del td.b{background:#fafafa}
mark{background:#ffd54f;padding:0} .notes li{margin:.2em 0} pre{background:#f7f7f7;padding:.6em;overflow-x:auto}
.map td,.map th{border:1px solid #ddd;padding:.2em .5em;font-family:ui-monospace,Menlo,monospace;font-size:12px}
"""


def page(lesson: Lesson) -> str:
    """The lesson as one self-contained HTML page (no scripts, no external files)."""
    e = html.escape
    body = [f"<h1>Lesson: {e(lesson.name)}</h1>",
            f"<p>Classes: {e(', '.join(lesson.classes))}. Aligned line for line (difflib); a shaded row differs, "
            f"<mark>marked</mark> characters are the difference, [n] points to the mirror table's note.</p>"]
    for pair in lesson.pairs:
        a, b = (str(p.relative_to(ROOT)) for p in pair.paths)
        body.append(f"<h2>{e(a)} &harr; {e(b)}</h2>")
        body.append('<table class="code"><colgroup><col style="width:2.5em"><col><col style="width:2.5em"><col>'
                    '<col style="width:3.5em"></colgroup>'
                    f"<tr><th></th><th>{e(LABELS[pair.sides[0]])}: {e(a)}</th><th></th>"
                    f"<th>{e(LABELS[pair.sides[1]])}: {e(b)}</th><th>notes</th></tr>")
        for row in pair.rows:
            cls = {" ": "eq", "~": "chg", "<": "del", ">": "ins"}[row.tag]
            if row.tag == "~":
                ta, tb = _diff_spans(row.a, row.b)
            else:
                ta, tb = e(row.a or ""), e(row.b or "")
            body.append(f'<tr class="{cls}"><td class="no">{row.a_no or ""}</td><td class="src a">{ta}</td>'
                        f'<td class="no">{row.b_no or ""}</td><td class="src b">{tb}</td>'
                        f'<td class="nt" title="{e(" ".join(pair.notes[n].text for n in row.notes))}">'
                        f'{_mark(row.notes)}</td></tr>')
        body.append("</table>")
        if pair.notes:
            body.append(f"<h3>Notes: {e(LABELS[pair.sides[0]])} &rarr; {e(LABELS[pair.sides[1]])}</h3><ol class=notes>")
            body += [f"<li>{e(n.text)}</li>" for n in pair.notes]
            body.append("</ol>")
    body.append("<h2>Weight mapping: torch key &rarr; Flax path</h2>")
    sides, rows = lesson.mapping_rows()
    if rows:
        head = "".join(f"<th>{e(LABELS[s])} path</th><th>transform</th>" for s in sides)
        body.append(f'<table class="map"><tr><th>torch key</th>{head}</tr>')
        body += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
        body.append("</table>")
    else:
        body.append("<p>No weights mapped: the live check was skipped (--no-live) or the component has none.</p>")
    body.append("<h2>Parity</h2>")
    body.append(f"<pre>{e(chr(10).join(parity_text(lesson)[:len(lesson.recorded) + 1]))}</pre>")
    body += [f"<pre>{e(text)}</pre>" for text in lesson.live]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>learngpt lesson: {e(lesson.name)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")

"""`learngpt lesson COMPONENT`: the mirrored files aligned line for line, annotated from the mirror table, the
parity row and tables, and the same as one self-contained HTML page (checked with html.parser and, where
Chromium is installed, by a screenshot)."""
import html.parser
import json
import shutil
import subprocess

import numpy as np
import pytest

from learngpt_lab import lesson
from learngpt.errors import ConfigError
from learngpt_lab.cli import main
from helpers import one_line

VOID = {"meta", "col", "br", "img", "hr", "link", "input"}


class Checked(html.parser.HTMLParser):
    """Well-formedness: every element closed in order; the text and the attributes collected."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.text, self.tags, self.errors = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parsed(page: str) -> Checked:
    p = Checked()
    p.feed(page)
    p.close()
    assert not p.errors and not p.stack, (p.errors, p.stack)
    return p


def test_a_lesson_shows_the_classes_a_name_is_built_of():
    assert lesson.classes_of("NanoGPT") == ["GPTVer4", "BlockVer4", "MultiHeadVer2"]
    assert lesson.classes_of("GPTVer3(HeadVer4)") == ["GPTVer3", "HeadVer4"]
    assert lesson.classes_of("BlockVer3PostNorm") == ["BlockVer3"]
    assert lesson.classes_of("2xBlockVer4") == ["BlockVer4"]
    assert lesson.classes_of("GPTVer4") == ["GPTVer4"] and lesson.parity_component("GPTVer4") == "GPTVer4(2xBlockVer4)"
    assert lesson.classes_of("trainer") == ["trainer.py"] and lesson.parity_component("trainer") is None
    with pytest.raises(ConfigError, match="no lesson for 'GPTVer9'"):
        lesson.classes_of("GPTVer9")


@pytest.mark.parametrize("name", ["HeadVer4", "BlockVer4", "NanoGPT", "lm", "trainer"])
def test_the_alignment_keeps_every_line_of_both_files_once_in_order(name):
    for pair in lesson.build(name).pairs:
        for side, path in enumerate(pair.paths):
            lines = path.read_text(encoding="utf-8").splitlines()
            shown = [(r.a_no, r.a) if side == 0 else (r.b_no, r.b) for r in pair.rows]
            assert [t for n, t in shown if n is not None] == lines
            assert [n for n, _ in shown if n is not None] == list(range(1, len(lines) + 1))
        for row in pair.rows:
            assert (row.tag == " ") == (row.a is not None and row.a == row.b)


def test_twins_share_a_row_and_differences_carry_the_mirror_tables_notes():
    pair = lesson.build("HeadVer4").pairs[0]
    by_a = {r.a.strip(): r for r in pair.rows if r.a}
    assert "def __call__(" in by_a["def forward(self, x: torch.Tensor) -> torch.Tensor:"].b
    assert "self.sow(" in by_a["self.attentions = wei  # (B, T, T)"].b
    assert "swapaxes" in by_a[next(k for k in by_a if "transpose(-2, -1)" in k)].b
    keys = {n.key for n in pair.notes}
    assert {"imports", "init", "fields", "setup", "forward", "sow", "mask", "transpose", "softmax", "buffer"} <= keys
    for row in pair.rows:  # a note marks only a row that differs, and only where its patterns match
        for n in row.notes:
            assert row.tag != " " and pair.notes[n].matches(row.a, row.b)
    assert not lesson.annotate([lesson.Row(1, "x = 1", 1, "x = 1", " ")], "torch-flax")


def test_a_note_matches_only_its_own_idiom():
    forward = next(n for n in lesson.NOTES if n.key == "forward")
    assert forward.matches("    def forward(self, x):", "    def __call__(self, x, deterministic=True):")
    assert not forward.matches("    def forward(self, x):", "    return x")
    assert forward.matches("    def forward(self, x):", None)  # alone on its row: its own side decides
    assert not forward.matches(None, "    def helper(self):")


def test_the_terminal_lesson_then_its_recorded_parity_row(capsys):
    assert main(["lesson", "HeadVer4", "--no-live", "--width", "160"]) == 0
    out = capsys.readouterr().out
    assert "learngpt_torch/head_v4.py  |  learngpt_flax/head_v4.py" in out
    assert "notes (torch -> Flax linen, the mirror table):" in out and "[1] " in out
    assert max(len(line) for line in out.splitlines()) <= 160 + 10
    recorded = json.loads(lesson.PARITY_RECORD.read_text())["lines"]
    k = next(i for i, line in enumerate(recorded) if line.split()[:1] == ["HeadVer4"])
    rows = [recorded[k]] + [line for line in recorded[k + 1:k + 4] if line.startswith(" ")]  # one per pair
    assert all(f"  {row}" in out.splitlines() for row in rows)
    assert f"  {recorded[k + len(rows)]}" not in out.splitlines()  # the next component's row is not shown


def test_the_html_page_has_both_files_the_mapping_and_the_live_tables(tmp_path, capsys):
    """The live check (HeadVer4, seconds) on the page, with the per-layer table and the weight mapping."""
    target = tmp_path / "head.html"
    assert main(["lesson", "HeadVer4", "--html", str(target), "--width", "120"]) == 0
    out = capsys.readouterr().out
    page = target.read_text(encoding="utf-8")
    p = parsed(page)
    text = "".join(p.text)
    for side in ("learngpt_torch", "learngpt_flax"):
        for line in (lesson.ROOT / side / "head_v4.py").read_text().splitlines():
            assert line.strip() in text, line
    cells = [t.strip() for t in p.text if t.strip()]
    for key, path in (("key.weight", "key/kernel"), ("query.weight", "query/kernel"), ("value.weight", "value/kernel")):
        k = cells.index(key)
        assert cells[k + 1:k + 3] == [path, "transpose"]
    assert "parity of HeadVer4 [float32]: pass" in text and "parity of HeadVer4 [float64]: pass" in text
    assert "layers in execution order" in text and "no layer's input or output is above the bound" in text
    assert not any(t in ("script", "img", "link", "iframe") for t, _ in p.tags), "the page is self-contained"
    assert not any(v and v.startswith(("http:", "https:", "//")) for _, a in p.tags for v in a.values())
    assert "parity of HeadVer4 [float32]: pass" in out  # the terminal shows the same


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless Chromium (apt-get install chromium)")
def test_the_page_renders_in_a_headless_browser(tmp_path, capsys):
    """Chromium draws the page: a screenshot with the shaded rows of differing lines on a white page."""
    target, shot = tmp_path / "block.html", tmp_path / "block.png"
    assert main(["lesson", "BlockVer4", "--no-live", "--html", str(target)]) == 0
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1400,1600", f"--screenshot={shot}", target.as_uri()],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[:2] == (1600, 1400)
    changed = ((image[..., 0] > 250) & (image[..., 1] > 242) & (image[..., 2] < 235)).sum()  # #fff8e1 rows
    dark = (image.sum(axis=-1) < 200).sum()  # text
    assert changed > 10_000 and dark > 10_000, (changed, dark)


def test_lesson_with_nnx_adds_linen_beside_nnx(tmp_path, capsys):
    pytest.importorskip("learngpt_nnx")
    found = lesson.build("BlockVer4", ("torch", "flax", "nnx"))
    assert [p.sides for p in found.pairs] == [("torch", "flax"), ("flax", "nnx")]
    assert {"nnx-init", "nnx-rngs", "nnx-call"} <= {n.key for n in found.pairs[1].notes}
    target = tmp_path / "head.html"
    assert main(["lesson", "HeadVer4", "--with", "nnx", "--html", str(target)]) == 0
    out = capsys.readouterr().out
    assert "parity of HeadVer4 [float64]: pass" in out and "torch against nnx" in out
    cells = [t.strip() for t in parsed(target.read_text(encoding="utf-8")).text if t.strip()]
    assert "Flax NNX path" in cells
    k = cells.index("key.weight")
    assert cells[k + 1:k + 5] == ["key/kernel", "transpose", "key/kernel", "transpose"]


def test_bad_lesson_requests_are_one_line(tmp_path, capsys):
    one_line(capsys, ["lesson", "GPTVer9"], "no lesson for 'GPTVer9'", "NanoGPT")
    (tmp_path / "d").mkdir()
    assert main(["lesson", "HeadVer4", "--no-live", "--html", str(tmp_path / "d")]) == 2
    assert "a folder is in its place" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["lesson", "HeadVer4", "--with", "tf"])
    assert "invalid choice: 'tf'" in capsys.readouterr().err

"""Numbers in README.md and docs/ come from the committed results files (docs/results/*.json), never typed
twice: every generated block must equal what tools/docs.py, the one generator, renders from them now."""
import pytest

from tools import docs


@pytest.mark.parametrize("doc", docs.DOCUMENTS)
def test_generated_blocks_match_the_results_files(doc):
    text = (docs.ROOT / doc).read_text(encoding="utf-8")
    for m in docs.BLOCK.finditer(text):
        assert m["body"] == docs.render(m["name"]), (
            f"{doc}: the block {m['name']!r} disagrees with docs/results/ (run python tools/docs.py)")


def test_the_check_passes_and_every_document_has_generated_numbers():
    assert docs.main(["--check"]) == 0
    names = {doc: [m["name"] for m in docs.BLOCK.finditer((docs.ROOT / doc).read_text(encoding="utf-8"))]
             for doc in docs.DOCUMENTS}
    assert all(names.values()), [doc for doc, found in names.items() if not found]
    every = [n for found in names.values() for n in found]
    assert any(n.startswith("answers-week2") for n in every) and any(n.startswith("answers-week1") for n in every)
    assert {"bench:bench-cpu-quick:table", "bench:bench-cpu-quick-hog:table",
            "bench:compare:bench-cpu-quick-hog:bench-cpu-quick",
            "bench:attempts:flax-loop-attempts", "ladder:table", "laptop:laptop", "compare:compare-laptop",
            "compare-runs:default", "flax-attempts:flax-fast-attempts"} <= set(names["docs/bench.md"])
    assert "trajectory:summary" in names["README.md"] and "trajectory:table" in names["docs/compare.md"]
    assert names["docs/parity.md"] == ["parity"]
    assert {"parallel:table", "parallel:held", "parallel:killed"} <= set(names["docs/parallel.md"])


@pytest.mark.parametrize("name, typed", [
    ("answers-week2:default", "| typed | 2.99 |"),
    ("bench:bench-cpu-quick:loops", "| flax scan | 999.9 | 9.99× |"),
    ("attention-scale", "| 2000 | 2.3369 | 2.3250 |"),
    ("trajectory:table", "| max \\|Δ parameter\\| after 200 steps (same bounds) | 8.4e-15 | 1.5e-05 |"),
    ("ladder:table", "| laptop, B12 T64 C128 L4 H4 (4) | Flax fast | 99.9 | 9.99× [9.00, 9.99] | 99.9 | 70% | 9.9 |"),
    ("laptop:laptop", "| torch | 1.8800 | step 250 (1.880) | 9 s | 99.9 | 0.0 |"),
    ("compare-runs:default", "| 1 | at the same time, one core each | 99.9 | 999.9 | 9.99× |"),
])
def test_a_typed_number_in_a_block_is_caught(name, typed):
    text = f"<!-- generated: {name} -->\n{typed}\n<!-- end generated -->"
    assert docs.regenerate(text) != text


def test_the_hog_and_idle_runs_agree_or_are_flagged():
    """The bar for the two committed bench --quick runs: each paired ratio agrees within 25 % between the
    run under a CPU hog and the one without, or one of the two is flagged unstable."""
    table = docs.render("bench:compare:bench-cpu-quick-hog:bench-cpu-quick")
    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| figure |") and lines[1].startswith("| --- |")
    rows = lines[2:]
    assert rows
    for line in rows:
        verdict = line.rstrip(" |").split("|")[-1]
        assert "agree within 25 %" in verdict or "flagged" in verdict, line


def test_answers_tables_give_each_question_whole():
    """A question is printed as the registry asks it, parentheses and all: never cut at the first ' ('."""
    from learngpt_lab.questions import load as registry
    table = docs.render("answers-week1:default")
    asked = [q.asks for q in registry().values() if q.file in ("test_1", "test_2", "test_3", "test_4", "test_5")
             and f"(`{q.id}`)" in table]
    assert asked and any(" (" in a for a in asked)
    assert all(f": {a} (`" in table for a in asked)


def test_a_hand_edited_number_in_docs_parity_md_is_caught():
    """docs/parity.md's table is `learngpt parity`'s recorded output: one digit changed by hand is caught."""
    text = (docs.ROOT / "docs" / "parity.md").read_text(encoding="utf-8")
    block = next(m for m in docs.BLOCK.finditer(text) if m["name"] == "parity")
    row = next(line for line in block["body"].splitlines() if line.startswith("HeadVer4 "))
    edited = text.replace(row, row.replace("e-", "e-1", 1), 1)
    assert edited != text and docs.regenerate(edited) == text

"""Numbers in README.md and docs/ come from the committed results files (docs/results/*.json), never typed
twice: every generated block must equal what learngpt_lab/questions/report.py renders from them now."""
import pytest

from learngpt_lab.questions import report


@pytest.mark.parametrize("doc", report.DOCUMENTS)
def test_generated_blocks_match_the_results_files(doc):
    text = (report.ROOT / doc).read_text(encoding="utf-8")
    blocks = list(report.BLOCK.finditer(text))
    for m in blocks:
        assert m["body"] == report.render(m["name"]), (
            f"{doc}: the block {m['name']!r} disagrees with docs/results/ "
            f"(run python -m learngpt_lab.questions.report)")


def test_every_document_has_generated_numbers():
    names = [m["name"] for doc in report.DOCUMENTS
             for m in report.BLOCK.finditer((report.ROOT / doc).read_text(encoding="utf-8"))]
    assert any(n.startswith("answers-week2") for n in names) and any(n.startswith("answers-week1") for n in names)


def test_a_typed_number_in_a_block_is_caught(tmp_path):
    name = "answers-week2:default"
    assert report.regenerate(f"<!-- generated: {name} -->\n| typed | 2.99 |\n<!-- end generated -->") != (
        f"<!-- generated: {name} -->\n| typed | 2.99 |\n<!-- end generated -->")

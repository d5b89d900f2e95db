"""docs/bench.md's numbers come from the results files (docs/results/bench-*.json, flax-loop-attempts.json),
never typed: every generated block equals what learngpt_lab/bench/report.py renders from them now."""
from learngpt_lab.bench import report


def test_docs_bench_blocks_match_the_results_files():
    text = report.DOC.read_text(encoding="utf-8")
    blocks = list(report.BLOCK.finditer(text))
    assert {"bench:bench-cpu-quick:table", "bench:bench-cpu-quick-hog:table",
            "bench:compare:bench-cpu-quick-hog:bench-cpu-quick",
            "bench:attempts:flax-loop-attempts"} <= {m["name"] for m in blocks}
    for m in blocks:
        assert m["body"] == report.render(m["name"]), (
            f"docs/bench.md: the block {m['name']!r} disagrees with docs/results/ (run python -m "
            "learngpt_lab.bench.report)")
    assert report.main(["--check"]) == 0


def test_a_typed_number_in_a_block_is_caught():
    name = "bench:bench-cpu-quick:loops"
    typed = f"<!-- generated: {name} -->\n| flax scan | 999.9 | 9.99× |\n<!-- end generated -->"
    assert report.regenerate(typed) != typed


def test_the_hog_and_idle_runs_agree_or_are_flagged():
    """The issue's bar for the two committed --quick runs: each paired ratio agrees within 25 % between the
    run under a CPU hog and the one without, or one of the two is flagged unstable."""
    table = report.render("bench:compare:bench-cpu-quick-hog:bench-cpu-quick")
    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| figure |") and lines[1].startswith("| --- |")
    rows = lines[2:]
    assert rows
    for line in rows:
        verdict = line.rstrip(" |").split("|")[-1]
        assert "agree within 25 %" in verdict or "flagged" in verdict, line

"""tools/ci_profile.py: the plugin writes one line per test with its CPU, children's CPU, wall and compile seconds;
the recorder sums them per test file, largest first; a folder with no lines is one line and exit 2."""
import json

from tools import ci_profile, docs

pytest_plugins = ["pytester"]


def test_the_plugin_writes_a_line_per_test_and_counts_a_waited_child(pytester, tmp_path):
    pytester.makepyfile(test_two="""
        import subprocess, sys
        import jax, jax.numpy as jnp

        def test_child():
            subprocess.run([sys.executable, "-c", "sum(range(3_000_000))"], check=True)

        def test_compiles():
            jax.jit(lambda x: x * 3.0 + 1.0)(jnp.arange(7.0)).block_until_ready()
    """)
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "-p", "tools.ci_profile", "--profile-to",
                                str(tmp_path / "p"))
    result.assert_outcomes(passed=2)
    rows = ci_profile.read(tmp_path / "p")
    assert [r["id"] for r in rows] == ["test_two.py::test_child", "test_two.py::test_compiles"]
    child, compiles = rows
    assert set(child) == {"id", "cpu", "children", "wall", "compile"}
    assert child["children"] > 0 and child["compile"] == 0 and child["wall"] > 0
    assert compiles["children"] == 0 and compiles["compile"] > 0


def test_without_the_option_nothing_is_written(pytester, tmp_path):
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    pytester.runpytest("-q", "-p", "no:cacheprovider", "-p", "tools.ci_profile").assert_outcomes(passed=1)
    assert not list(pytester.path.rglob("*.jsonl"))


ROWS = [{"id": "tests/a.py::t1", "cpu": 1.0, "children": 0.0, "wall": 1.5, "compile": 0.5},
        {"id": "tests/b.py::t1", "cpu": 2.0, "children": 6.0, "wall": 5.0, "compile": 0.0},
        {"id": "tests/a.py::t2[x]", "cpu": 3.0, "children": 0.5, "wall": 3.0, "compile": 1.0}]


def test_the_recorder_sums_per_file_largest_first(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "gw0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[:2]))
    (tmp_path / "p" / "gw1.jsonl").write_text(json.dumps(ROWS[2]) + "\n")
    out = tmp_path / "ci-profile.json"
    assert ci_profile.main([str(tmp_path / "p"), "--commit", "abc1234", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["workers"] == 2 and r["commit"] == "abc1234"
    assert [(f["file"], f["tests"], f["cpu"], f["children"], f["compile"]) for f in r["files"]] == [
        ("tests/b.py", 1, 2.0, 6.0, 0.0), ("tests/a.py", 2, 4.0, 0.5, 1.5)]
    assert r["total"] == {"tests": 3, "cpu": 6.0, "children": 6.5, "wall": 9.5, "compile": 1.5}
    assert [t["id"] for t in r["top_tests"]] == ["tests/b.py::t1", "tests/a.py::t2[x]", "tests/a.py::t1"]


def test_a_folder_without_lines_or_with_a_foreign_line_is_one_line_and_exit_2(tmp_path, capsys):
    assert ci_profile.main([str(tmp_path / "none"), "--commit", "abc"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no profile lines" in err
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "gw0.jsonl").write_text(json.dumps(ROWS[0]) + '\n{"id": "t", "cpu": 1}\n')
    assert ci_profile.main([str(tmp_path / "p"), "--commit", "abc"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "gw0.jsonl:2 is not a line of" in err


def test_a_folder_holding_an_earlier_run_is_refused(pytester, tmp_path):
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "gw0.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "-p", "tools.ci_profile", "--profile-to",
                                str(tmp_path / "p"))
    assert result.ret == 4 and "holds an earlier run's lines" in result.stderr.str()


def test_the_block_shows_every_file_above_one_percent_and_sums_the_rest(monkeypatch):
    files = [{"file": f"tests/f{i}.py", "tests": 1, "cpu": c, "children": 0.0, "wall": c, "compile": 0.0}
             for i, c in enumerate((60.0, 39.5, 0.5))]
    total = {"tests": 3, "cpu": 100.0, "children": 0.0, "wall": 100.0, "compile": 0.0}
    record = {"commit": "abc1234", "note": "n", "workers": 2, "cpu_count": 2, "created": "2026-12-07 20:00",
              "total": total, "files": files, "top_tests": []}
    monkeypatch.setattr(docs, "load", lambda name: record)
    table = docs.render("ci-profile")
    assert "| tests/f0.py | 1 | 60 + 0 | 60% |" in table and "| tests/f1.py | 1 | 40 + 0 | 40% |" in table
    assert "tests/f2.py" not in table and "| 1 other files | 1 | 0 + 0 | 0% |" in table
    assert "| all | 3 | 100 + 0 | 100% |" in table

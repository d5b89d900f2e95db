"""docs/port.md's example (the README's "Check your own port" section) runs as printed: with pytest, in a fresh
process, the `parity_check` fixture coming from the installed plugin; and with a planted bug it fails naming
the layer."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "port.md"


def example() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    block = text.split("<!-- port-example:start -->", 1)[1].split("<!-- port-example:end -->")[0]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


def run_pytest(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    """pytest on the example alone, outside this repository's conftest and settings, as a user runs it."""
    (tmp_path / "test_example.py").write_text(code, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_the_example_passes(tmp_path):
    code = example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 22
    out = run_pytest(tmp_path, code)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout


def test_the_example_fails_naming_the_layer_when_the_port_is_wrong(tmp_path):
    code = example()
    assert "approximate=False" in code
    out = run_pytest(tmp_path, code.replace("approximate=False", "approximate=True"))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "first divergence: layer 2, down (Linear)" in out.stdout
    assert "after layer 1, up (the last that agrees)" in out.stdout


def test_the_readme_section_shows_the_same_example():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Check your own port" in readme
    section = readme.split("## Check your own port", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"```python\n(.*?)```", section, re.S).group(1) == example()
    assert "docs/port.md" in section


def test_the_bert_and_opt_tables_are_generated_and_a_typed_number_is_caught():
    """docs/port.md's BERT/OPT tables are tools/docs.py's rendering of docs/results/port-models.json: the page
    carries both blocks as rendered now, and a number or a layer name edited by hand in either is caught."""
    from tools import docs
    text = GUIDE.read_text(encoding="utf-8")
    blocks = {m["name"]: m["body"] for m in docs.BLOCK.finditer(text)}
    assert set(blocks) >= {"port-models:tables", "port-models:planted"}
    for name in ("port-models:tables", "port-models:planted"):
        assert blocks[name] == docs.render(name)
    for name, old, new in (("port-models:tables", "| BERT | float32 | last_hidden_state ",
                            "| BERT | float32 | last_hidden_state 1.00e-07, "),
                           ("port-models:planted", "`embeddings.LayerNorm`", "`encoder.layer.0.output.dense`")):
        edited = text.replace(blocks[name], blocks[name].replace(old, new, 1))
        assert edited != text
        assert docs.regenerate(edited) == text  # the generator restores the results file's numbers: caught

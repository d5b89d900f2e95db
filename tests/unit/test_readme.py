"""The README's ten-line example runs as printed and shows a difference within the float32 bound."""
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_ten_line_example_runs():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Ten lines", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    diff = float(re.search(r"max \|torch - flax\| = (\S+)", out.stdout).group(1))
    assert diff <= 1e-5


def test_the_readme_commands_are_what_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    test_command = re.search(r"\*\*Run the tests\*\*.*?```bash\n(.*?)\n```", README.read_text(), re.S).group(1)
    assert test_command in ci  # CI also sets LEARNGPT_DATA itself, and fails when the corpus is missing


def test_the_readme_commands_type_no_corpus_path():
    """The corpus is found without one (learngpt/data.py: find_corpus), on any clone."""
    blocks = re.findall(r"```bash\n(.*?)\n```", README.read_text(encoding="utf-8").split("## Two commands", 1)[1],
                        re.S)[:2]
    assert len(blocks) == 2 and not any("LEARNGPT_DATA" in b or "shared/data" in b for b in blocks)


def test_the_readme_is_one_screenful_of_sections_and_every_page_it_names_exists():
    """At most 300 lines: what it leaves out lives in docs/, one link away, and every link resolves."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", text) if not link.startswith("http")]
    assert {"docs/mirror.md", "docs/parity.md", "docs/reference.md", "docs/answers.md", "docs/bench.md"} <= set(links)
    missing = [link for link in links if not (README.parent / link).exists()]
    assert not missing, missing

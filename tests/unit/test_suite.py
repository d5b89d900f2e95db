"""The suite's own machinery, as .ci/run uses it: `pytest -n 2 --dist loadgroup` runs every test of an xdist_group
on one worker, whether the group comes from a module's pytestmark (tests/parallel/test_data_parallel.py and the
others with a costly module fixture) or from tests/conftest.py's collection hook (the training questions sharing
runs; the hook runs first, before pytest-xdist's own reads the marks). Were the groups split, each worker would build those fixtures and train those runs again."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MODULE_GROUP = '''import pytest
pytestmark = pytest.mark.xdist_group("module")
@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    pass
'''
HOOK_GROUP = '''import pytest
@pytest.mark.parametrize("i", range(6))
def test_grouped_by_the_hook(i):
    pass
'''
UNGROUPED = '''import pytest
@pytest.mark.parametrize("i", range(12))
def test_free(i):
    pass
'''
CONFTEST = '''import pytest
@pytest.hookimpl(tryfirst=True)  # as tests/conftest.py's: before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.originalname == "test_grouped_by_the_hook":
            item.add_marker(pytest.mark.xdist_group("hook"))
'''


def test_loadgroup_keeps_each_group_on_one_worker(tmp_path):
    for name, text in (("test_module.py", MODULE_GROUP), ("test_hook.py", HOOK_GROUP), ("test_free.py", UNGROUPED),
                       ("conftest.py", CONFTEST)):
        (tmp_path / name).write_text(text)
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
                          "no:cacheprovider", "-o", "addopts="], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    workers: dict[str, set[str]] = {}
    for worker, test in re.findall(r"^\[(gw\d+)\] \[ *\d+%\] PASSED (\S+)", run.stdout, re.M):
        workers.setdefault(test.split("::")[1].split("[")[0], set()).add(worker)
    assert set(workers) == {"test_grouped", "test_grouped_by_the_hook", "test_free"}, run.stdout
    assert len(workers["test_grouped"]) == 1, f"a module's group ran on {sorted(workers['test_grouped'])}"
    assert len(workers["test_grouped_by_the_hook"]) == 1, \
        f"a group added by a conftest hook ran on {sorted(workers['test_grouped_by_the_hook'])}"


def test_the_readme_test_command_is_what_ci_runs():
    """The README's test command (its fenced line that installs and runs pytest) is .ci/run's last line."""
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    readme = [line for line in (ROOT / "README.md").read_text().splitlines()
              if line.startswith("python3 -m venv .venv") and "pytest tests" in line]
    assert readme == [ci], (readme, ci)

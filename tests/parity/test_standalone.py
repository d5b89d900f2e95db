"""parity stands alone: no file of it imports the curriculum (learngpt, learngpt_torch, learngpt_flax, learngpt_nnx,
learngpt_jax, learngpt_lab), and in an interpreter where every learngpt* import fails it still carries a Linear's
weights to a Dense and compares the two."""
import ast
import subprocess
import sys
from pathlib import Path

import parity

PACKAGE = Path(parity.__file__).resolve().parent

BLOCKED = '''
import sys


class Blocked:  # every learngpt* module is refused, as where the curriculum is not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith("learngpt"):
            raise ImportError(f"{name} is blocked: parity must not need it")


sys.meta_path.insert(0, Blocked())
'''

LINEAR_PAIR = BLOCKED + '''
import flax.linen as nn
import numpy as np
import torch

import parity
from parity.errors import WeightMismatchError

x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
report = parity.compare(torch.nn.Linear(5, 3), nn.Dense(3), x)
assert report.ok, report
assert [k for k, _, _ in report.mapping] == ["bias", "weight"], report.mapping
try:
    parity.compare(torch.nn.Linear(5, 3), nn.Dense(4), x)
except WeightMismatchError as err:
    assert "mis-shaped" in str(err), err
else:
    raise AssertionError("a Dense of another width was not refused")
loaded = sorted(m for m in sys.modules if m.split(".")[0].startswith("learngpt"))
assert not loaded, loaded
print("parity alone:", report.table().splitlines()[0])
'''


def curriculum_imports(path: Path) -> list[str]:
    """'file:line module' for every import of a learngpt* module in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                 [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
        found += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0].startswith("learngpt")]
    return found


def test_no_file_of_parity_imports_the_curriculum():
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) > 5, f"parity's files not found beside {parity.__file__}"
    found = [line for path in files for line in curriculum_imports(path)]
    assert not found, "parity imports the curriculum:\n" + "\n".join(found)


def test_the_scan_can_fail(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import numpy\n\n\ndef f():\n    from learngpt.errors import UserError\n    import learngpt_lab\n")
    assert curriculum_imports(probe) == ["probe.py:5 learngpt.errors", "probe.py:6 learngpt_lab"]


def test_a_linear_pair_compares_with_every_learngpt_import_blocked():
    out = subprocess.run([sys.executable, "-c", LINEAR_PAIR], capture_output=True, text=True, timeout=300,
                         cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "parity alone: parity of Linear vs Dense [float32]: pass" in out.stdout, out.stdout


def test_the_block_can_fail():
    out = subprocess.run([sys.executable, "-c", BLOCKED + "import learngpt.errors\n"], capture_output=True,
                         text=True, timeout=120, cwd=PACKAGE.parent)
    assert out.returncode == 1 and "ImportError: learngpt is blocked" in out.stderr, out.stderr

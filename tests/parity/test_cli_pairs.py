"""`learngpt parity` on a porter's own files: a factory's own exit is the factory's (one line, exit 2), a FILE.py
factory imports what lies beside it, --layout and --train reach compare, a --pair dict with train_steps trains,
and the first hour of docs/port.md runs as it reads (docs/examples/cnn_port.py)."""
from pathlib import Path

import pytest

from learngpt_lab.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "docs" / "examples" / "cnn_port.py")

FACTORIES = '''
import sys, numpy as np, torch, flax.linen as nn
from beside import make_linear


def t(): return make_linear()
def f(): return nn.Dense(4)
def exits(): sys.exit(0)
def exits3(): raise SystemExit(3)
def interrupts(): raise KeyboardInterrupt("from the factory")


class T(torch.nn.Module):
    def __init__(self): super().__init__(); self.fc = torch.nn.Linear(4, 3)
    def forward(self, x): return self.fc(x)


class F(nn.Module):
    @nn.compact
    def __call__(self, x): return nn.Dense(3, name="fc")(x)


def trajectory(dtype="float32"):
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((5, 4)).astype(dtype), rng.integers(0, 3, (5,))) for _ in range(3)]
    return {"torch": T(), "flax": F(), "inputs": batches[0][0], "batches": batches, "train_steps": 5}


def no_batches():
    return {"torch": T(), "flax": F(), "inputs": np.ones((2, 4), "f4"), "train_steps": 5}
'''


@pytest.fixture
def files(tmp_path):
    (tmp_path / "beside.py").write_text("import torch\n\n\ndef make_linear():\n    return torch.nn.Linear(4, 4)\n")
    (tmp_path / "pairs.py").write_text(FACTORIES)
    return tmp_path / "pairs.py"


def test_a_file_factory_imports_the_module_beside_it(files, capsys):
    assert main(["parity", "--torch", f"{files}:t", "--flax", f"{files}:f", "--input", "3,4"]) == 0
    assert "[float32]: pass" in capsys.readouterr().out


@pytest.mark.parametrize("factory,line", [
    ("exits", "called sys.exit(0); a factory returns its modules"),
    ("exits3", "called sys.exit(3); a factory returns its modules"),
    ("interrupts", "raised KeyboardInterrupt: from the factory"),
])
def test_a_factorys_own_exit_is_one_line_naming_it(files, capsys, factory, line):
    assert main(["parity", "--torch", f"{files}:{factory}", "--flax", f"{files}:f", "--input", "3,4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--torch '{files}:{factory}'" in err and line in err, err


def test_a_pair_dict_with_train_steps_trains_and_without_batches_is_refused(files, capsys):
    assert main(["parity", "--pair", f"{files}:trajectory", "--dtype", "float64"]) == 0
    assert "every step within the bound" in capsys.readouterr().out
    assert main(["parity", "--pair", f"{files}:no_batches"]) == 2
    assert "gave train_steps without batches" in capsys.readouterr().err


def test_a_bad_layout_is_one_line(files, capsys):
    assert main(["parity", "--torch", f"{files}:t", "--flax", f"{files}:f", "--input", "3,4",
                 "--layout", "NCHW:NCWH"]) == 2
    assert "expected TORCH:FLAX" in capsys.readouterr().err


def test_the_first_hour_runs_as_docs_port_md_reads(capsys):
    """The same images to both: refused before anything runs, naming the layouts; declared: pass; train mode
    with torch's momentum copied: exit 1 with the convention as the cause; Flax's momentum: pass."""
    assert main(["parity", "--pair", f"{EXAMPLE}:first"]) == 2
    assert "needs the layouts declared (layout=('NCHW', 'NHWC'), --layout NCHW:NHWC)" in capsys.readouterr().err
    assert main(["parity", "--pair", f"{EXAMPLE}:declared"]) == 0
    assert "(channels last)" in capsys.readouterr().out
    assert main(["parity", "--pair", f"{EXAMPLE}:train_copied_momentum"]) == 1
    assert "likely cause: BatchNorm momentum convention at bn1" in capsys.readouterr().out
    assert main(["parity", "--pair", f"{EXAMPLE}:train"]) == 0

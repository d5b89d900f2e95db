"""The house's floors: imports flow one way, the core imports no framework, the mirrored files pair up (three
ways: torch, linen, NNX) and read side by side on one screen.

    learngpt  <-  learngpt_jax  <-  learngpt_torch, learngpt_flax, learngpt_nnx  <-  learngpt_lab
    parity (a stack of its own: it imports nothing of learngpt*; of the packages here only the lab imports it)

learngpt_jax holds the JAX code both Flax APIs share (the AdamW transformation, the fast pieces, the mesh, the
compiled loop): no linen, no torch. Each backend imports the floors below it only, never another backend;
learngpt_nnx imports no linen module (flax.linen), learngpt_torch no JAX. No file is excepted: a package's floor
is every one of its files' floor.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOORS = {"learngpt": 0, "learngpt_jax": 1, "learngpt_torch": 2, "learngpt_flax": 2, "learngpt_nnx": 2, "parity": 3,
          "learngpt_lab": 4}
BACKENDS = ("learngpt_torch", "learngpt_flax", "learngpt_nnx")
FRAMEWORKS = {"torch", "jax", "jaxlib", "flax", "optax"}
LINEN = "flax.linen"  # a name FORBIDDEN may hold: `import flax.linen`, `from flax import linen`, `from flax.linen ...`
# what each package may not import although it sits higher: another backend, a framework, linen; parity: any floor
FORBIDDEN = {
    "learngpt": FRAMEWORKS,
    "learngpt_jax": {"torch", LINEN},
    "learngpt_torch": {"learngpt_jax", "learngpt_flax", "learngpt_nnx", "jax", "jaxlib", "flax", "optax"},
    "learngpt_flax": {"learngpt_torch", "learngpt_nnx", "torch"},
    "learngpt_nnx": {"learngpt_torch", "learngpt_flax", "torch", LINEN},
    "parity": {name for name in FLOORS if name.startswith("learngpt")},
}
MIRROR_WIDTH = 110


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, name) of every import in the file, at any depth (function-level imports included): the top-level
    package's name, and LINEN besides where the import is of flax.linen."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name.split(".")[0]))
                if alias.name == LINEN or alias.name.startswith(LINEN + "."):
                    found.append((node.lineno, LINEN))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
            if (node.module == LINEN or node.module.startswith(LINEN + ".")
                    or node.module == "flax" and any(alias.name == "linen" for alias in node.names)):
                found.append((node.lineno, LINEN))
    return found


def wrong_way(package: str, files: list[Path] | None = None) -> list[str]:
    """Every import in the package that reaches a higher floor, the other backend, or (core) a framework."""
    problems = []
    for path in files if files is not None else package_files(package):
        floor = FLOORS[package]  # one floor per package, no file excepted
        for line, name in imports(path):
            if name in FLOORS and FLOORS[name] > floor or name in FORBIDDEN.get(package, ()):
                where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                problems.append(f"{where}:{line} imports {name} ({package} must not)")
    return problems


@pytest.mark.parametrize("package", list(FLOORS))
def test_imports_flow_one_way(package):
    problems = wrong_way(package)
    assert not problems, "imports that run the wrong way:\n" + "\n".join(problems)


def test_the_import_check_can_fail(tmp_path):
    """A deliberate wrong-way import is named with its line: the core reaching for the bridge and for torch,
    parity for a backend or the curriculum's core, a backend (whatever the file's name) for parity or the lab."""
    bad = tmp_path / "probe.py"
    bad.write_text("import numpy\n\n\ndef f():\n    from parity import bridge\n    import torch\n")
    assert wrong_way("learngpt", [bad]) == ["probe.py:5 imports parity (learngpt must not)",
                                            "probe.py:6 imports torch (learngpt must not)"]
    below = tmp_path / "parallel.py"
    below.write_text("from parity import bridge\nfrom learngpt_torch import runtime\nfrom learngpt.errors import E\n")
    assert wrong_way("parity", [below]) == ["parallel.py:2 imports learngpt_torch (parity must not)",
                                            "parallel.py:3 imports learngpt (parity must not)"]
    runtime = tmp_path / "runtime.py"
    runtime.write_text("from parity import bridge\nimport learngpt_lab\n")
    assert wrong_way("learngpt_torch", [runtime]) == ["runtime.py:1 imports parity (learngpt_torch must not)",
                                                      "runtime.py:2 imports learngpt_lab (learngpt_torch must not)"]


def test_a_planted_upward_or_sideways_import_in_the_jax_floors_is_named(tmp_path):
    """learngpt_jax reaching up (the lab, a backend) or for linen or torch, NNX for linen (in each spelling) or
    linen's package, torch for the JAX floor: each named with its line; what each may import passes."""
    jax_file = tmp_path / "training.py"
    jax_file.write_text("import jax\nimport optax\nfrom learngpt.training import History\n\n\ndef f():\n"
                        "    import learngpt_lab\n    from learngpt_flax import trainer\n    import flax.linen as nn\n"
                        "    import torch\n")
    assert wrong_way("learngpt_jax", [jax_file]) == [
        "training.py:7 imports learngpt_lab (learngpt_jax must not)",
        "training.py:8 imports learngpt_flax (learngpt_jax must not)",
        "training.py:9 imports flax.linen (learngpt_jax must not)",
        "training.py:10 imports torch (learngpt_jax must not)"]
    nnx_file = tmp_path / "block_v4.py"
    nnx_file.write_text("from learngpt_flax import optim\nimport torch\nfrom parity import nnx\n"
                        "from flax import linen as nn\nfrom flax.linen import Dense\nfrom flax import nnx\n"
                        "from learngpt_jax.fast import dense\n")
    assert wrong_way("learngpt_nnx", [nnx_file]) == [
        "block_v4.py:1 imports learngpt_flax (learngpt_nnx must not)",
        "block_v4.py:2 imports torch (learngpt_nnx must not)",
        "block_v4.py:3 imports parity (learngpt_nnx must not)",
        "block_v4.py:4 imports flax.linen (learngpt_nnx must not)",
        "block_v4.py:5 imports flax.linen (learngpt_nnx must not)"]
    torch_file = tmp_path / "optim.py"
    torch_file.write_text("import torch\nimport learngpt_jax.optim\n")
    assert wrong_way("learngpt_torch", [torch_file]) == ["optim.py:2 imports learngpt_jax (learngpt_torch must not)"]


CORE_MODULES = sorted(f"learngpt.{p.stem}" for p in (ROOT / "learngpt").glob("*.py") if p.stem != "__init__")


def frameworks_after_import(module: str) -> list[str]:
    code = (f"import sys, {module}\n"
            f"print(','.join(sorted(m for m in {sorted(FRAMEWORKS)!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return [m for m in out.stdout.strip().split(",") if m]


@pytest.mark.parametrize("module", ["learngpt"] + CORE_MODULES + ["parity", "parity.weights", "learngpt_lab.checkpoints"])
def test_the_core_and_the_bridge_package_import_no_framework(module):
    """Each core module, and `import parity` (its names load lazily), in a fresh interpreter."""
    loaded = frameworks_after_import(module)
    assert not loaded, f"importing {module} imported {', '.join(loaded)}"


def test_the_fresh_interpreter_check_can_fail():
    assert "torch" in frameworks_after_import("learngpt_torch")


def test_the_jax_floor_loads_jax_and_optax_only():
    """Every module of learngpt_jax, in a fresh interpreter: no flax (linen or NNX), no torch."""
    modules = sorted(f"learngpt_jax.{p.stem}" for p in (ROOT / "learngpt_jax").glob("*.py") if p.stem != "__init__")
    loaded = frameworks_after_import(", ".join(modules))
    assert set(loaded) <= {"jax", "jaxlib", "optax"}, f"importing learngpt_jax imported {', '.join(loaded)}"


def mirrored_pairs() -> list[tuple[Path, ...]]:
    """(torch, linen, NNX) file of each name: every backend package has the same files."""
    files = {package: {p.name: p for p in package_files(package)} for package in BACKENDS}
    names = set(files["learngpt_torch"])
    for package in BACKENDS[1:]:
        assert set(files[package]) == names, (f"unpaired files between learngpt_torch and {package}: "
                                              f"{sorted(names ^ set(files[package]))}")
    return [tuple(files[package][n] for package in BACKENDS) for n in sorted(names)]


def test_mirrored_files_read_side_by_side():
    """Every file of learngpt_torch/ has its twins in learngpt_flax/ and learngpt_nnx/, and no line is wider
    than 110 characters."""
    long_lines = [f"{path.relative_to(ROOT)}:{i} ({len(line)} characters)"
                  for pair in mirrored_pairs() for path in pair
                  for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if len(line) > MIRROR_WIDTH]
    assert not long_lines, f"lines wider than {MIRROR_WIDTH}:\n" + "\n".join(long_lines)


def test_every_backend_adapter_offers_the_same_surface():
    """Each backend's adapter (learngpt_lab/backends/) implements every operation of protocol.Adapter, with the
    same parameters in the same order (backends.adapter raises a TypeError naming what differs)."""
    from learngpt_lab import backends
    for name in backends.NAMES:
        backends.adapter(name)


# ---------------------------------------------------------------------------------------------------------------
# adding a backend = its lesson package + one adapter module + its entry in one table (and its lesson notes)

# where a backend is meant to be named: the lesson packages, the backends' table and adapters, the tests and the
# experiments (each measures named backends); what git ignores (a virtual environment, build outputs, runs)
NAMING_ALLOWED = ("learngpt_torch", "learngpt_flax", "learngpt_nnx", "learngpt_lab/backends", "tests", "experiments",
                  "build", "runs", "bench-out", "learngpt-exercises")
# every other file that names a non-reference backend, and why it does: a new file naming one fails the test below
NAMES_A_BACKEND = {
    "learngpt_lab/bench/report.py": "the bench's NNX implementations (nnx, nnx.jit), picked by name",
    "learngpt_lab/bench/runners.py": "the bench's NNX runner builds on the nnx backend",
    "learngpt_lab/commands/lesson.py": "--with nnx: the lesson's third side; torch beside linen unless told",
    "learngpt_lab/exercises/generate.py": "the mirror table's pairs (torch-flax, flax-nnx): lesson notes",
    "learngpt_lab/exercises/grade.py": "linen's and NNX's own ways to run dropout, and hints about linen",
    "learngpt_lab/parity_pair.py": "the torch-flax pair engine: its --torch and --flax sides",
    "learngpt_lab/parity_table.py": "jax_pair_report: linen against NNX",
    "learngpt_lab/questions/week2.py": "CHAINS: the deep-chain question written out in each framework",
    "tools/docs.py": "the recorded results, by backend",
    "tools/gpu_trajectory.py": "torch against linen on a GPU",
    "tools/port_gpt2.py": "'flax' the package (its version), compared by name: not a backend, but it reads as one",
    "tools/scaling.py": "torch or linen",
    "tools/trajectory.py": "the recorded trajectories of torch, linen and NNX",
}


def names_a_backend(path: Path, names: frozenset[str], ports: frozenset[str]) -> list[int]:
    """The lines where the file names a non-reference backend (one of `ports`; `names` holds them all): a string
    constant equal to a port's name used as a backend's name, that is
      - an operand of a comparison (framework == "nnx", side in ...),
      - an argument of a call, positional or a keyword's value (backends.get("flax"), collect("flax", "nnx")),
      - a key of a dict literal whose keys are all backends' names ({"torch": ..., "flax": ..., "nnx": ...}),
      - an element of a tuple, list or set literal whose elements are all backends' names (("flax", "nnx")).
    Not counted: the reference's name (torch: every port is compared with it, so a new backend changes no file
    for naming torch alone); a name in a literal beside other strings (a record of package versions, a list of
    pip packages or of command-line flags: the name of a package there, not of a backend); a subscript, a
    default parameter or an assignment (which backend one thing uses, not a list or a branch of them)."""
    found = set()

    def port(node) -> bool:
        return isinstance(node, ast.Constant) and node.value in ports

    def name(node) -> bool:
        return isinstance(node, ast.Constant) and node.value in names

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Compare):
            used = [node.left, *node.comparators]
        elif isinstance(node, ast.Call):
            used = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.Dict):
            used = node.keys if node.keys and all(name(k) for k in node.keys) else []
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            used = node.elts if node.elts and all(name(e) for e in node.elts) else []
        else:
            continue
        found.update(n.lineno for n in used if port(n))
    return sorted(found)


def files_naming_a_backend(root: Path = ROOT, allowed: tuple[str, ...] = NAMING_ALLOWED) -> dict[str, list[int]]:
    """{path relative to root: lines} of every .py file outside `allowed` and hidden folders that names a
    non-reference backend (names_a_backend)."""
    from learngpt_lab import backends
    names, ports = frozenset(backends.NAMES), frozenset(backends.PORTS)
    found = {}
    for folder, subfolders, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d != "__pycache__"
                               and (rel / d).as_posix() not in allowed)
        for file in sorted(f for f in files if f.endswith(".py")):
            lines = names_a_backend(Path(folder) / file, names, ports)
            if lines:
                found[(rel / file).as_posix()] = lines
    return dict(sorted(found.items()))


def test_a_backend_is_named_only_in_the_table_and_the_files_listed():
    """Adding a backend is its lesson package, one adapter module and its entry in learngpt_lab/backends' table
    BACKENDS (and its lesson notes): any other file that names a non-reference backend (names_a_backend says
    what naming is) is listed in NAMES_A_BACKEND with its reason; a new one fails here, named with its lines."""
    found = files_naming_a_backend()
    new = {path: lines for path, lines in found.items() if path not in NAMES_A_BACKEND}
    gone = sorted(set(NAMES_A_BACKEND) - set(found))
    assert not new, ("files outside the table that name a backend (look it up in learngpt_lab.backends.BACKENDS, "
                     "or list the file in NAMES_A_BACKEND with its reason):\n"
                     + "\n".join(f"{path}: lines {', '.join(map(str, lines))}" for path, lines in new.items()))
    assert not gone, "listed in NAMES_A_BACKEND but naming no backend any more (drop them): " + ", ".join(gone)


def test_the_naming_check_can_fail(tmp_path):
    """Each use that names a port is found with its line; the reference alone, a package name in a record, a
    subscript, a default and an assignment are not."""
    names, ports = frozenset({"torch", "flax", "nnx"}), frozenset({"flax", "nnx"})
    probe = tmp_path / "probe.py"
    probe.write_text('if side == "nnx":\n    pass\n'  # 1: a comparison
                     'get("flax")\n'  # 3: a call argument
                     'f(side="nnx")\n'  # 4: a keyword's value
                     'LABELS = {"torch": 1, "flax": 2}\n'  # 5: a table keyed by backends
                     'SIDES = ("flax", "nnx")\n'  # 6: a list of backends
                     'VERSIONS = {"torch": 1, "jax": 2, "flax": 3}\n'  # a record of packages
                     'PACKAGES = ("numpy", "flax")\n'  # a list of packages
                     'x = runs["flax"]\n'  # a subscript
                     'def g(side="nnx"):\n    pass\n'  # a default
                     'FRAMEWORK = "nnx"\n'  # an assignment
                     'if side == "torch":\n    pass\n')  # the reference
    assert names_a_backend(probe, names, ports) == [1, 3, 4, 5, 6]
    tree = tmp_path / "repo"
    (tree / "learngpt_lab" / "backends").mkdir(parents=True)
    (tree / "learngpt_lab" / "backends" / "__init__.py").write_text('NAMES = ("torch", "flax", "nnx")\n')
    (tree / "learngpt_lab" / "new.py").write_text('if name == "flax":\n    pass\n')
    assert files_naming_a_backend(tree) == {"learngpt_lab/new.py": [1]}


@pytest.mark.parametrize("module", ["learngpt_lab.backends", "learngpt_lab.lesson", "learngpt_lab.exercises.catalog"])
def test_the_backends_table_is_read_without_a_framework(module):
    """The table (and what reads names and labels from it) in a fresh interpreter: no framework imported."""
    loaded = frameworks_after_import(module)
    assert not loaded, f"importing {module} imported {', '.join(loaded)}"

"""What of the GPU path can be checked without a GPU: device selection, the TF32 switches (the frameworks are
told they have a GPU), the one-line errors when one of them sees none, the script tools/gpu.sh (no GPU: one
line, exit 2; its dry run; with one: the python it uses, the install without a registry, the one run; what the
python lacks in one line), and the both-on-one-device parity check, run on the CPU."""
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from learngpt.errors import UserError
from learngpt_lab.bench.runners import setup_device
from tools import gpu_check
from helpers import one_line

ROOT = Path(__file__).resolve().parents[2]

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
SCRIPT = ROOT / "tools" / "gpu.sh"


@pytest.fixture
def restore_settings():
    """setup_device changes process-wide settings: put them back after the test."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             jax.config.jax_default_matmul_precision, jax.config.jax_default_device)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
    jax.config.update("jax_default_matmul_precision", saved[2])
    jax.config.update("jax_default_device", saved[3])


def pretend_gpu(monkeypatch, torch_sees: bool = True, jax_sees: bool = True):
    """torch.cuda and jax.devices('gpu') report a GPU (JAX's 'GPU' is the CPU device: nothing runs on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: torch_sees)
    real = jax.devices

    def devices(backend=None):
        if backend == "gpu":
            if not jax_sees:
                raise RuntimeError("Unknown backend: 'gpu' requested, but no platforms that are instances of gpu "
                                   "are present.\nmore detail")
            return real("cpu")
        return real(backend) if backend else real()
    monkeypatch.setattr(jax, "devices", devices)


def test_cpu_is_selected_in_both_frameworks(restore_settings):
    dev = setup_device("cpu")
    assert dev.kind == "cpu" and dev.torch_device == torch.device("cpu") and dev.jax_device.platform == "cpu"
    assert jax.config.jax_default_device == dev.jax_device


def test_gpu_selects_cuda_and_turns_tf32_off_in_both(monkeypatch, restore_settings):
    torch.backends.cudnn.allow_tf32 = True  # torch's default for cuDNN
    torch.backends.cuda.matmul.allow_tf32 = True
    jax.config.update("jax_default_matmul_precision", None)
    pretend_gpu(monkeypatch)
    dev = setup_device("gpu")
    assert dev.kind == "gpu" and dev.torch_device == torch.device("cuda")
    assert torch.backends.cuda.matmul.allow_tf32 is False and torch.backends.cudnn.allow_tf32 is False
    assert jax.config.jax_default_matmul_precision == "highest"
    assert jax.config.jax_default_device == dev.jax_device


@pytest.mark.parametrize("torch_sees, jax_sees, message", [
    (False, True, "--device gpu: torch sees no CUDA GPU"),
    (True, False, "--device gpu: JAX sees no GPU; install it with pip install -U 'jax[cuda12]'"),
])
def test_a_framework_without_a_gpu_is_one_line(monkeypatch, restore_settings, torch_sees, jax_sees, message):
    pretend_gpu(monkeypatch, torch_sees, jax_sees)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        setup_device("gpu")
    assert "\n" not in str(err.value)


def test_the_bench_command_without_a_gpu_is_one_line(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    one_line(capsys, ["bench", "--device", "gpu", "--out", str(tmp_path), "--loop-steps", "0"],
             "torch sees no CUDA GPU")


def run_script(tmp_path, with_gpu: bool, *args, fake_python: str | None = None, **env):
    """tools/gpu.sh with PATH holding only the system's tools (and, when with_gpu, a fake nvidia-smi that lists
    one GPU); fake_python: a shell script standing in for the python, which logs its arguments."""
    path = tmp_path / "bin"
    path.mkdir(exist_ok=True)
    if with_gpu:
        fake = path / "nvidia-smi"
        fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA Fake (UUID: GPU-0)'\n")
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    if fake_python is not None:
        py = path / "python3"
        py.write_text(f"#!/bin/sh\necho \"$*\" >> {tmp_path / 'calls'}\n{fake_python}\n")
        py.chmod(py.stat().st_mode | stat.S_IEXEC)
    full = {**os.environ, "PATH": f"{path}:/usr/bin:/bin", "VENV": str(tmp_path / "venv"), **env}
    full.pop("LEARNGPT_GPU_PYTHON", None)
    return subprocess.run(["bash", str(SCRIPT), *args, str(tmp_path / "out")], env=full, capture_output=True,
                          text=True, timeout=60)


def test_gpu_script_without_a_gpu_says_so_in_one_line(tmp_path):
    got = run_script(tmp_path, with_gpu=False)
    assert got.returncode == 2
    assert got.stderr.strip().splitlines() == [got.stderr.strip()] and "no NVIDIA GPU found" in got.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "venv").exists()  # nothing done


def test_the_dry_run_prints_the_plan_without_a_gpu(tmp_path):
    """The dry run, here on the CPU: the plan and its time, with the python given; nothing installed or run."""
    import sys
    got = run_script(tmp_path, False, "--dry-run", "--python", sys.executable)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert lines[0] == f"gpu.sh: python {sys.executable}"
    assert f"+ {sys.executable} -m pip install -q --no-deps --no-build-isolation --no-index -e ." in got.stdout
    assert any(line.startswith("GPU run plan: ") and "(limit 480 s" in line for line in lines)
    assert "torch.compile reduce-overhead" in got.stdout and "pip install -q torch" not in got.stdout
    assert not (tmp_path / "out").exists() and not (tmp_path / "venv").exists()


def test_gpu_script_uses_the_python_there_and_reaches_no_registry(tmp_path):
    """With a GPU: the python found on PATH checked, the project installed without dependencies or an index,
    then the one run; no venv, no download."""
    got = run_script(tmp_path, True, fake_python="exit 0")
    assert got.returncode == 0, got.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0] == "tools/gpu_run.py --check-env"
    assert calls[1] == "-m pip install -q --no-deps --no-build-isolation --no-index -e ."
    assert calls[2].startswith(f"tools/gpu_run.py --out {tmp_path / 'out'} --started-at ") and len(calls) == 3
    assert not (tmp_path / "venv").exists()
    # pip failing (no network, no setuptools): the tree is run through PYTHONPATH instead
    (tmp_path / "calls").unlink()
    got = run_script(tmp_path, True, fake_python='case "$*" in *pip*) echo "ERROR: offline" >&2; exit 1;; esac')
    assert got.returncode == 0 and "running it from the tree (PYTHONPATH=" in got.stdout
    assert (tmp_path / "calls").read_text().splitlines()[2].startswith("tools/gpu_run.py --out")


def test_what_the_python_lacks_stops_the_script_in_one_line(tmp_path):
    lacking = "gpu_run: error: /usr/bin/python3 lacks: flax (not installed); jax 0.11.2 sees no gpu device"
    got = run_script(tmp_path, True, fake_python=f'echo "{lacking}" >&2; exit 2')
    assert got.returncode == 2 and got.stderr.strip() == lacking
    assert (tmp_path / "calls").read_text().splitlines() == ["tools/gpu_run.py --check-env"]  # nothing after


def test_a_wrong_python_or_option_is_one_line(tmp_path):
    for args, message in ((("--python", str(tmp_path / "nope")), "is not an executable python"),
                          (("--bogus",), "unknown option --bogus")):
        got = run_script(tmp_path, True, *args)
        assert got.returncode == 2 and got.stderr.strip().splitlines() == [got.stderr.strip()], got.stderr
        assert message in got.stderr


def test_the_registry_path_stays_for_machines_that_have_one(tmp_path):
    import sys
    got = run_script(tmp_path, True, "--registry", "--dry-run", "--python", sys.executable)
    assert got.returncode == 0, got.stderr
    for expected in ("-m venv", "pip install -q torch --index-url https://download.pytorch.org/whl/cu126",
                     "pip install -q -U jax[cuda12]", "pip install -q -e .[dev]", "tools/gpu_run.py --out"):
        assert expected in got.stdout, (expected, got.stdout)
    assert got.stdout.index("jax[cuda12]") < got.stdout.index("tools/gpu_run.py --out")
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


def test_parity_on_one_device_runs_on_the_cpu(tmp_path, restore_settings):
    """gpu_check's own code path on the CPU: torch's default device set for the check and put back; the
    component within the parity bounds in both dtypes; the JSON written."""
    before = torch.get_default_device()
    out = tmp_path / "parity.json"
    assert gpu_check.main(["--device", "cpu", "--component", "MultiHeadVer2", "--out", str(out)]) == 0
    assert torch.get_default_device() == before
    data = json.loads(out.read_text())
    assert data["ok"] and data["device"] == "cpu"
    assert [(r["component"], r["dtype"]) for r in data["rows"]] == [("MultiHeadVer2", "float32"),
                                                                    ("MultiHeadVer2", "float64")]
    for r in data["rows"]:
        assert r["output_max_diff"] <= data["bounds"][r["dtype"]]["output"]


def test_parity_check_without_a_gpu_is_one_line(monkeypatch, capsys, restore_settings):
    pretend_gpu(monkeypatch, torch_sees=False)
    one_line(capsys, ["--device", "gpu", "--component", "MultiHeadVer2"], "torch sees no CUDA GPU",
             command=gpu_check.main)

"""What of the GPU path can be checked without a GPU: device selection, the TF32 switches (the frameworks are
told they have a GPU), the one-line errors when one of them sees none, the script tools/gpu.sh
(no GPU: one line, exit 2; with one: the commands it runs), and the both-on-one-device parity check, run on
the CPU."""
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

import importlib.util

from learngpt.errors import UserError
from learngpt_lab.bench.runners import setup_device

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("learngpt_gpu_check", ROOT / "tools" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)

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
    from learngpt_lab.cli import main
    assert main(["bench", "--device", "gpu", "--out", str(tmp_path), "--loop-steps", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "torch sees no CUDA GPU" in err, err


def run_script(tmp_path, with_gpu: bool, **env):
    path = tmp_path / "bin"
    path.mkdir(exist_ok=True)
    if with_gpu:  # a fake nvidia-smi that lists one GPU
        fake = path / "nvidia-smi"
        fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA Fake (UUID: GPU-0)'\n")
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    full = {**os.environ, "PATH": f"{path}:/usr/bin:/bin", "VENV": str(tmp_path / "venv"), **env}
    return subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], env=full, capture_output=True,
                          text=True, timeout=60)


def test_gpu_script_without_a_gpu_says_so_in_one_line(tmp_path):
    got = run_script(tmp_path, with_gpu=False)
    assert got.returncode == 2
    assert got.stderr.strip().splitlines() == [got.stderr.strip()] and "no NVIDIA GPU found" in got.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "venv").exists()  # nothing done


def test_gpu_script_installs_and_runs_the_bench_and_parity_with_tf32_off(tmp_path):
    got = run_script(tmp_path, with_gpu=True, LEARNGPT_GPU_DRY_RUN="1")
    assert got.returncode == 0, got.stderr
    out = got.stdout
    for expected in ("-m venv", "pip install -q torch --index-url https://download.pytorch.org/whl/cu126",
                     'pip install -q -U jax[cuda12]', 'pip install -q -e .[dev]',
                     "learngpt bench --device gpu --out", "tools/gpu_check.py --device gpu --out",
                     "pytest tests/parity", "tools/ladder.py --device gpu",
                     "compare --preset laptop --torch-compile --device gpu"):
        assert expected in out, (expected, out)
    assert out.index("jax[cuda12]") < out.index("learngpt bench")  # installed before it is used
    # TF32 off for every step: cuBLAS/cuDNN in both frameworks, JAX's float32 matmuls
    script = SCRIPT.read_text()
    assert "export NVIDIA_TF32_OVERRIDE=0" in script and "export JAX_DEFAULT_MATMUL_PRECISION=highest" in script
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
    assert gpu_check.main(["--device", "gpu", "--component", "MultiHeadVer2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "torch sees no CUDA GPU" in err

#!/usr/bin/env bash
# learngpt on an NVIDIA GPU, one command, from a clone of the repository:
#
#     bash tools/gpu.sh [OUT]          (OUT: default gpu-out)
#
# 1. checks that there is an NVIDIA GPU (nvidia-smi), else stops with one line, exit 2;
# 2. makes a virtual environment ($VENV, default .venv-gpu) and installs a CUDA build of torch
#    ($TORCH_INDEX, default the cu126 wheels), jax[cuda12] and the project with its test extras;
# 3. checks that both frameworks see the GPU;
# 4. `learngpt bench --device gpu` (TF32 off in both frameworks)      -> OUT/bench-gpu.json, .png, .txt
# 5. parity with torch and JAX both on the GPU, every component, float32 and float64, TF32 off
#    (python tools/gpu_check.py)                                   -> OUT/gpu-parity.json, .txt
# 6. the parity test suite (tests/parity) with JAX on the GPU against torch's CPU reference, TF32 off
#                                                                       -> OUT/pytest-parity.txt
# 7. the size ladder on the GPU: torch eager, torch.compile, Flax jax.jit and Flax fast at every rung, paired,
#    against the GPU's measured matmul peak (python tools/ladder.py --device gpu)  -> OUT/ladder-gpu.json, .txt
# 8. `learngpt compare --preset laptop --torch-compile --device gpu`: nanoGPT's laptop recipe trained by both
#    backends on the GPU, torch through torch.compile                  -> OUT/compare-laptop/, .txt
# Exit status: 0 when every step passed, else the first failing step's. LEARNGPT_GPU_DRY_RUN=1 prints the
# commands instead of running them (the unit tests use it). The bench's flags can be added with BENCH_ARGS,
# e.g. BENCH_ARGS="--quick".
set -euo pipefail

OUT="${1:-gpu-out}"
VENV="${VENV:-.venv-gpu}"
PYTHON="${PYTHON:-python3}"
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cu126}"
BENCH_ARGS="${BENCH_ARGS:-}"
DRY="${LEARNGPT_GPU_DRY_RUN:-}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# TF32 off everywhere: cuBLAS/cuDNN for both frameworks, JAX's float32 matmuls at full precision
export NVIDIA_TF32_OVERRIDE=0
export JAX_DEFAULT_MATMUL_PRECISION=highest
export LEARNGPT_DATA="${LEARNGPT_DATA:-$ROOT/../shared/data/tinyshakespeare.txt}"
[ -f "$LEARNGPT_DATA" ] || unset LEARNGPT_DATA  # then the corpus is found as `learngpt` finds it

run() {  # echo the command; run it unless dry
    echo "+ $*"
    if [ -z "$DRY" ]; then "$@"; fi
}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu.sh: error: no NVIDIA GPU found (nvidia-smi is missing or lists no GPU); the CPU bench is" \
         "'learngpt bench'" >&2
    exit 2
fi

cd "$ROOT"
mkdir -p "$OUT"
if [ ! -x "$VENV/bin/python" ]; then
    run "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
run "$PY" -m pip install -q --upgrade pip
run "$PY" -m pip install -q torch --index-url "$TORCH_INDEX"
run "$PY" -m pip install -q -U "jax[cuda12]"
run "$PY" -m pip install -q -e ".[dev]"
run "$PY" -c "import torch, jax; assert torch.cuda.is_available(), 'torch sees no CUDA GPU'; \
print('torch', torch.__version__, torch.cuda.get_device_name(0)); print('jax', jax.__version__, jax.devices('gpu'))"

status=0
step() {  # name, log file, command...: run one step, keep its output, remember the first failure
    local name="$1" log="$2"
    shift 2
    echo "== $name"
    if [ -n "$DRY" ]; then
        echo "+ $* > $log"
        return 0
    fi
    set +e
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" -ne 0 ]; then
        echo "gpu.sh: $name failed (exit $rc); its output is in $log" >&2
        [ "$status" -ne 0 ] || status=$rc
    fi
}

# shellcheck disable=SC2086  # BENCH_ARGS is a list of flags
step "bench on the GPU" "$OUT/bench-gpu.txt" \
    "$VENV/bin/learngpt" bench --device gpu --out "$OUT" --no-progress --label "gpu.sh" $BENCH_ARGS
step "parity, torch and JAX on the GPU" "$OUT/gpu-parity.txt" \
    "$PY" "$ROOT/tools/gpu_check.py" --device gpu --out "$OUT/gpu-parity.json"
step "parity tests, JAX on the GPU" "$OUT/pytest-parity.txt" \
    env JAX_PLATFORMS=cuda,cpu "$PY" -m pytest tests/parity -q -p no:cacheprovider
step "the size ladder on the GPU" "$OUT/ladder-gpu.txt" \
    "$PY" "$ROOT/tools/ladder.py" --device gpu --label "gpu.sh" --out "$OUT/ladder-gpu.json"
step "compare at the laptop preset, torch.compile, on the GPU" "$OUT/compare-laptop.txt" \
    "$VENV/bin/learngpt" compare --preset laptop --torch-compile --device gpu --no-progress \
    --out "$OUT/compare-laptop"

echo "gpu.sh: results in $OUT/ (bench-gpu.json, bench-gpu.png, gpu-parity.json, ladder-gpu.json," \
     "compare-laptop/, and each step's output)"
exit "$status"

#!/usr/bin/env bash
# learngpt on an NVIDIA GPU, one command, from a clone of the repository, within ten minutes:
#
#     bash tools/gpu.sh [OPTIONS] [OUT]        (OUT: default $OUT, else gpu-out)
#
#   --python PATH   the python that holds a CUDA torch and JAX with its GPU plugin (default $LEARNGPT_GPU_PYTHON,
#                   else python3 on PATH, else python); nothing is downloaded
#   --registry      for a machine that reaches a package index instead: make a venv ($VENV, default .venv-gpu) and
#                   install a CUDA torch ($TORCH_INDEX, default the cu126 wheels), jax[cuda12] and the project
#   --dry-run       print the plan and its time (python tools/gpu_run.py --dry-run); no GPU needed
#                   (LEARNGPT_GPU_DRY_RUN=1 does the same)
#
# 1. checks that there is an NVIDIA GPU (nvidia-smi), else stops with one line, exit 2;
# 2. checks the python: the project's packages at pyproject.toml's versions, torch with CUDA, JAX with a gpu
#    device, the corpus ($LEARNGPT_DATA); what is missing in one line, exit 2;
# 3. installs the project into it without dependencies (pip install --no-deps --no-build-isolation --no-index -e .),
#    or, where that fails, runs it from the tree (PYTHONPATH);
# 4. python tools/gpu_run.py --out OUT: parity on the GPU (every component, float32 and float64, TF32 off; the
#    trajectories) beside each other, then the fairness matrix (tools/gpu_bench.py), every part within its
#    planned seconds -> OUT/gpu-run.json, gpu-bench.json, gpu-parity.json, gpu-trajectory.json and each part's log.
# Record them: python tools/gpu_record.py OUT (copies them into docs/results/ and regenerates the docs).
# Exit status: 0 when every part ended well, 1 when one failed or was stopped at its cap, 2 for what is missing.
set -euo pipefail

START="$(date +%s)"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${LEARNGPT_GPU_PYTHON:-}"
REGISTRY=""
DRY="${LEARNGPT_GPU_DRY_RUN:-}"
OUTDIR=""
while [ $# -gt 0 ]; do
    case "$1" in
        --python) [ $# -ge 2 ] || { echo "gpu.sh: error: --python needs a path" >&2; exit 2; }
                  PY="$2"; shift 2 ;;
        --python=*) PY="${1#--python=}"; shift ;;
        --registry) REGISTRY=1; shift ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
        -*) echo "gpu.sh: error: unknown option $1; expected --python PATH, --registry, --dry-run or OUT" >&2
            exit 2 ;;
        *) [ -z "$OUTDIR" ] || { echo "gpu.sh: error: one OUT folder, got $OUTDIR and $1" >&2; exit 2; }
           OUTDIR="$1"; shift ;;
    esac
done
OUTDIR="${OUTDIR:-${OUT:-gpu-out}}"
case "$OUTDIR" in /*) ;; *) OUTDIR="$PWD/$OUTDIR" ;; esac  # as given, from where the script was started
VENV="${VENV:-.venv-gpu}"
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cu126}"
export LEARNGPT_DATA="${LEARNGPT_DATA:-$ROOT/../shared/data/tinyshakespeare.txt}"
case "$LEARNGPT_DATA" in /*) ;; *) LEARNGPT_DATA="$PWD/$LEARNGPT_DATA" ;; esac
[ -f "$LEARNGPT_DATA" ] || unset LEARNGPT_DATA  # then the corpus is found as `learngpt` finds it
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

run() {  # echo the command; run it unless dry
    echo "+ $*"
    if [ -z "$DRY" ]; then "$@"; fi
}

if [ -z "$DRY" ] && { ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; }; then
    echo "gpu.sh: error: no NVIDIA GPU found (nvidia-smi is missing or lists no GPU); the CPU bench is" \
         "'learngpt bench', the plan of this run 'bash tools/gpu.sh --dry-run'" >&2
    exit 2
fi
cd "$ROOT"

BASE_PY="${PY:-python3}"
if [ -n "$REGISTRY" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        run "$BASE_PY" -m venv "$VENV"
    fi
    PY="$VENV/bin/python"
    run "$PY" -m pip install -q --upgrade pip
    run "$PY" -m pip install -q torch --index-url "$TORCH_INDEX"
    run "$PY" -m pip install -q -U "jax[cuda12]"
    run "$PY" -m pip install -q -e ".[dev]"
elif [ -z "$PY" ]; then
    PY="$(command -v python3 || command -v python || true)"
    [ -n "$PY" ] || { echo "gpu.sh: error: no python on PATH; give one with --python PATH" >&2; exit 2; }
fi
if [ -z "$DRY" ] || [ -z "$REGISTRY" ]; then
    [ -x "$PY" ] || command -v "$PY" >/dev/null 2>&1 || {
        echo "gpu.sh: error: --python $PY is not an executable python" >&2; exit 2; }
fi
echo "gpu.sh: python $PY"

if [ -n "$DRY" ]; then
    if [ -z "$REGISTRY" ]; then
        echo "+ $PY tools/gpu_run.py --check-env"
        echo "+ $PY -m pip install -q --no-deps --no-build-isolation --no-index -e .  (else PYTHONPATH=$ROOT)"
    fi
    echo "+ $PY tools/gpu_run.py --out $OUTDIR"
    [ -x "$PY" ] || PY="$BASE_PY"  # the registry's venv is not made in a dry run: the plan from the base python
    exec "$PY" tools/gpu_run.py --dry-run
fi

"$PY" tools/gpu_run.py --check-env  # one line and exit 2 when something is missing (set -e stops here)
mkdir -p "$OUTDIR"
if [ -z "$REGISTRY" ]; then
    LOG="$OUTDIR/gpu-install.txt"
    if timeout 40 "$PY" -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$LOG" 2>&1; then
        echo "gpu.sh: the project installed into $PY without dependencies"
    else
        why="$(grep -m 1 -iE "error:|invalid" "$LOG" | sed 's/^ *//' || true)"
        echo "gpu.sh: pip could not install the project here (${why:-see $LOG}); running it from the tree" \
             "(PYTHONPATH=$ROOT)"
    fi
fi
exec "$PY" tools/gpu_run.py --out "$OUTDIR" --started-at "$START"

#!/usr/bin/env bash
# The GPU check (BENCHMARKS.md): bench table on CUDA (fp32/bf16, eager/compiled, each SDPA backend), memory sweep to
# 4,096 tokens, Fashion-MNIST /1 vs /2 and the fast recipe's time to accuracy (skipped when the data is absent), the FID
# feature pass (skipped when default_1.pt is absent); under 10 minutes on one GPU.
# Writes runs/gpu_check/gpu_check.md, one Markdown block to paste into BENCHMARKS.md.
#   scripts/gpu_check.sh                 # on the GPU machine
#   scripts/gpu_check.sh --dry           # tiny sizes on the CPU, a few seconds (what CI runs)
#   scripts/gpu_check.sh --fmnist-root shared/fashion-mnist
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=1
exec "$PY" -m pixelvit bench --suite gpu --out "${OUT:-runs/gpu_check}" "$@"

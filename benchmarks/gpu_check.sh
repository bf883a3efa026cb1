#!/usr/bin/env bash
# CUDA paths on a machine with an NVIDIA GPU and no network, in under 5 minutes:
# torch CUDA fp32/fp16/bf16 latency of vit_tiny/16 and vit_small/16 at 224 (batch 1, % of the
# measured peak), and a TensorRT engine build + run when `import tensorrt` works (else one clear
# line that it is not installed). Prints a table; writes OUT_DIR/gpu_check.json.
#   bash benchmarks/gpu_check.sh [OUT_DIR]        (default OUT_DIR: benchmarks/results)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-benchmarks/results}"
PY="${PYTHON:-python3}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
# the repo itself is on the path: no install step (the machine may have no network)
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 timeout 290 "$PY" benchmarks/gpu_check.py --out-dir "$OUT_DIR"

#!/usr/bin/env bash
# One-GPU check (H100/H200): Rex-Omni-3B shape, random weights, SFT padded vs packed + GRPO phases.
# Finishes in < 8 minutes; prints a table and writes $OUT/gpu_check.json (and gpu_check.log) when
# $OUT is set. Installs nothing: needs only python3 with torch and transformers (no DeepSpeed, Ray
# or mmengine). Extra flags go to bench/gpu_check.py (see --help); CPU smoke test: --dry-run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
LOG="${OUT:-/tmp}/gpu_check.log"
mkdir -p "$(dirname "$LOG")"
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; } || true
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
# 470 s hard stop keeps the whole check (with model build) under 8 minutes.
timeout 470 "$PY" -m bench.gpu_check "$@" 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"

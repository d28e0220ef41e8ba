#!/usr/bin/env bash
# One GPU lease, one command: the GPU figures that matter most first, inside BUDGET_S seconds (default 480).
#   bash bench/gpu_session.sh                      # on the lent GPU machine (carry .whl: bench/gpu_wheels.sh)
#   STAGES=rollout BUDGET_S=300 bash bench/gpu_session.sh   # one stage alone
#   DRY_RUN=1 bash bench/gpu_session.sh            # every stage at test size on the CPU (with the venv active)
# Stages, most valuable first, each started only if its estimate fits what is left of the budget (the table
# and the rules are in bench/gpu_session.py): sft_fast, rollout, sft_packing, sft_paths, actor_forward, zero2,
# demo_long. Results in $OUT (default /tmp/gpu_session): session.json, session.md, logs/<stage>.log
# (docs/gpu-results.md says how to read them).
set -uo pipefail
export GPU_SESSION_T0="${GPU_SESSION_T0:-$(date +%s.%N)}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python3 -c "import torch, transformers" >/dev/null 2>&1 \
    || { echo "[gpu_session] python3 cannot import torch and transformers: activate the project's venv (or use the GPU image's python3); nothing ran"; exit 2; }
export OUT="${OUT:-/tmp/gpu_session}"
source bench/gpu_env.sh
exec python3 -m bench.gpu_session

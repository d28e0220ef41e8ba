#!/usr/bin/env bash
# Shared set-up for every script: run from the repository root inside a ready .venv.
# Creates .venv when missing and (re)installs the package when pyproject.toml changed.
# Source it: `source scripts/setup_env.sh`. Set REX_SKIP_INSTALL=1 to use the current python as is.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
if [[ "${REX_SKIP_INSTALL:-0}" != "1" ]]; then
    PYTHON_BIN="${PYTHON:-python3}"
    if [[ ! -x .venv/bin/python ]]; then
        echo "[setup] creating .venv with $($PYTHON_BIN --version 2>&1)"
        "$PYTHON_BIN" -m venv .venv
    fi
    stamp=".venv/.rex_installed"
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
        echo "[setup] installing the package and its dev extras into .venv (first time: a few minutes;" \
             "pip shows each package and a progress bar per download)"
        # pip's own output (a line per package, progress bars) goes straight to the terminal; only its
        # stderr is filtered: this machine's pip config lists local find-links folders that may not exist.
        { .venv/bin/python -m pip install --progress-bar on --disable-pip-version-check -e ".[dev]" 2>&1 1>&3 \
            | { grep --line-buffered -v '^WARNING: Location .* is ignored' >&2 || true; }; } 3>&1
        echo "[setup] installed; later runs skip this step until pyproject.toml changes"
        echo "$want" > "$stamp"
    fi
    # shellcheck disable=SC1091
    source .venv/bin/activate
fi
# Every Python the scripts start imports this checkout's packages, also `python tools/x.py` (whose own folder,
# not the repository, comes first on sys.path) and Ray workers, even when the environment's editable install
# points at another checkout.
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export WORK_DIRS="${WORK_DIRS:-$REPO_ROOT/work_dirs}"

# Number of NVIDIA GPUs visible on this node (0 without nvidia-smi); used by sft.sh and grpo.sh.
detect_gpus() {
    if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true; else echo 0; fi
}

#!/usr/bin/env bash
# Sourced by the scripts run on a lent GPU machine (bench/gpu_session.sh),
# from the repository root. Such an image has torch and transformers but not this project's other
# dependencies: wheels carried in .whl are installed to /tmp/site. The repository is not pip-installed
# there, so it goes on PYTHONPATH (torchrun runs finetuning/train.py as a script).
# Where mmengine, pycocotools and deepspeed already import (this project's venv), the wheels are not needed.
if compgen -G ".whl/*.whl" >/dev/null && ! python3 -c "import mmengine, pycocotools, deepspeed" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "[gpu_env] installing the wheels in .whl failed" >&2; exit 1; }
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" REX_SKIP_INSTALL="${REX_SKIP_INSTALL:-1}" PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

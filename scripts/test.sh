#!/usr/bin/env bash
# Set up .venv (if needed) and run the whole test suite on the CPU. Extra args go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
echo "[test] ruff"
ruff check .
echo "[test] pytest"
python -m pytest "$@"

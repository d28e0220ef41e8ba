#!/usr/bin/env bash
# Fills .whl with the wheels a lent GPU image (torch + transformers only) needs for bench/gpu_session.sh:
# mmengine and pycocotools (configs, evaluation), liger-kernel (the Liger modes), and DeepSpeed built from
# its source package without compiling any op (DS_BUILD_OPS=0: a py3-none-any wheel; ZeRO-2 with
# --optim adamw_torch needs no op) with the dependencies a bare torch image lacks.
# Run it in this project's venv (DeepSpeed's build imports torch) on a machine with a package index; the
# GPU machine reaches none. bench/gpu_env.sh installs
# .whl/*.whl to /tmp/site there. .whl is git-ignored: a launcher that copies only tracked files must be told
# to carry it. PY_VERSION (default 3.12) is the GPU image's Python.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY_VERSION="${PY_VERSION:-3.12}"
DEEPSPEED_VERSION="${DEEPSPEED_VERSION:-0.19.8}"
dest=.whl
python3 -c "import torch" 2>/dev/null || { echo "[gpu_wheels] torch does not import: activate the project's venv first" >&2; exit 2; }
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

binary=(mmengine addict yapf termcolor platformdirs pycocotools liger-kernel
        hjson msgpack ninja py-cpuinfo einops psutil nvidia-ml-py
        pydantic pydantic-core annotated-types typing-inspection typing-extensions)
echo "[gpu_wheels] ${#binary[@]} binary wheels for Python $PY_VERSION"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$dest" "${binary[@]}"

echo "[gpu_wheels] deepspeed $DEEPSPEED_VERSION from source, no ops compiled"
python3 -m pip download -q --no-deps --no-binary=:all: -d "$tmp" "deepspeed==$DEEPSPEED_VERSION"
DS_BUILD_OPS=0 python3 -m pip wheel -q --no-deps --no-build-isolation -w "$tmp" "$tmp/deepspeed-$DEEPSPEED_VERSION.tar.gz"
ds_wheel="$(ls "$tmp"/deepspeed-*.whl)"
[[ "$ds_wheel" == *-py3-none-any.whl ]] || { echo "[gpu_wheels] deepspeed wheel is not pure Python: $ds_wheel" >&2; exit 1; }
cp "$ds_wheel" "$dest/"

du -k "$dest"/*.whl | sort -rn | awk '{printf "[gpu_wheels] %8.2f MiB  %s\n", $1 / 1024, $2}'
total_kib="$(du -sk "$dest" | cut -f1)"
echo "[gpu_wheels] $(ls "$dest"/*.whl | wc -l) wheels, $((total_kib / 1024)) MiB in $dest (kept under 16 MiB; the carry limit is 64 MiB)"
(( total_kib < 16 * 1024 )) || { echo "[gpu_wheels] $dest is over 16 MiB: drop a wheel before carrying it" >&2; exit 1; }

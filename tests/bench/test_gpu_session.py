"""bench/gpu_session.sh's trainer stages dry-run on the CPU: scripts/sft.sh without DeepSpeed and through
ZeRO-2 (stage 2b), each followed by tools/evaluate.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_trainer_stages_dry_run_plain_and_zero2(tmp_path: Path) -> None:
    env = {**os.environ, "DRY_RUN": "1", "OUT": str(tmp_path), "SKIP_CHECK": "1", "SKIP_ROLLOUT": "1",
           "SKIP_SPEED": "1", "SKIP_ACTOR": "1", "SKIP_LONG": "1"}
    proc = subprocess.run(["bash", "bench/gpu_session.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2b/3 trainer on CUDA through DeepSpeed ZeRO-2" in proc.stdout
    assert "[gpu_session] zero2: DeepSpeed optimizer state " in proc.stdout
    assert "3/3 the CPU demo recipe" not in proc.stdout
    plain_log = (tmp_path / "sft_bf16_packed.log").read_text()
    zero2_log = (tmp_path / "sft_zero2.log").read_text()
    assert "deepspeed=none" in plain_log and "--deepspeed scripts/zero2.json" in zero2_log
    for name in ("bf16_packed", "zero2"):
        metrics = json.loads((tmp_path / f"metrics_{name}.json").read_text())
        assert metrics["num_samples"] == 64 and metrics["task"] == "grounding"


def test_gpu_wheels_refuses_without_torch(tmp_path: Path) -> None:
    # A Python without torch cannot build DeepSpeed's wheel: one line, exit 2, nothing downloaded.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "python3").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "bench/gpu_wheels.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "torch does not import" in proc.stderr

"""DeepSpeed ZeRO-2/3 on the CPU (gloo): two torchrun ranks learn and save a folder that reloads offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def run_train(config: Path, output_dir: Path, stage: int, nproc: int | None, steps: int = 20) -> list[float]:
    """Run train.py with ``scripts/zero<stage>.json`` under torchrun (``nproc`` ranks) or as one plain
    process (``nproc=None``); returns the logged training losses."""
    args = ["--config", str(config), "--output_dir", str(output_dir), "--deepspeed", f"scripts/zero{stage}.json",
            "--tune_mm_vision", "True", "--tune_mm_mlp", "True", "--tune_mm_llm", "True", "--max_steps", str(steps),
            "--per_device_train_batch_size", "2", "--logging_steps", "1", "--save_strategy", "no",
            "--report_to", "none", "--disable_tqdm", "True", "--seed", "0"]
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc else []
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    # DeepSpeed's all-gathers raise a FutureWarning per call on recent torch.
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT), PYTHONWARNINGS="ignore::FutureWarning")
    proc = subprocess.run([sys.executable, *launcher, "finetuning/train.py", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [h["loss"] for h in history if "loss" in h]


def assert_learns(losses: list[float]) -> None:
    assert len(losses) >= 10
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first - 0.5, losses


@pytest.mark.parametrize("stage", [2, 3])
def test_two_ranks_learn_and_save(
    tiny_config: Path, tiny_model_dir: Path, tmp_path: Path, reloads_and_generates: Callable[[Path], None], stage: int
) -> None:
    out = tmp_path / f"zero{stage}"
    assert_learns(run_train(tiny_config, out, stage, nproc=2))
    state = json.loads((out / "trainer_state.json").read_text())
    # 20 steps x 2 ranks x 2 samples = 80 samples of 32: both ranks counted in DeepSpeed's batch.
    assert state["epoch"] == pytest.approx(2.5)
    reloads_and_generates(out)
    saved, original = load_file(out / "model.safetensors"), load_file(tiny_model_dir / "model.safetensors")
    # ZeRO-3 keeps 1/world of each tensor per rank; the save must gather full tensors. (ZeRO-2 also
    # writes the tied lm_head.weight, which the original folder leaves out.)
    assert {k: saved[k].shape for k in original} == {k: v.shape for k, v in original.items()}


def test_single_process_deepspeed(tiny_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "single"
    losses = run_train(tiny_config, out, stage=3, nproc=None, steps=4)
    assert len(losses) == 4 and (out / "model.safetensors").is_file()

"""Resume: a run SIGKILLed after a checkpoint and restarted ends like an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from finetuning.arguments import parse_args
from finetuning.checkpoint import is_complete_checkpoint, resume_checkpoint
from finetuning.train import run_training

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
STEPS = 30


def argv(config: Path, output_dir: Path) -> list[str]:
    return ["--config", str(config), "--output_dir", str(output_dir), "--tune_mm_vision", "True",
            "--tune_mm_mlp", "True", "--tune_mm_llm", "True", "--max_steps", str(STEPS),
            "--per_device_train_batch_size", "2", "--save_steps", "5", "--logging_steps", "1",
            "--report_to", "none", "--disable_tqdm", "True", "--seed", "0", "--dataloader_num_workers", "0"]


def run_and_kill_when(args: list[str], ready: Path, env: dict[str, str] | None = None, timeout: float = 300) -> None:
    """Start train.py in a subprocess and SIGKILL it as soon as the file ``ready`` exists."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "finetuning.train", *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while not ready.exists():
            assert proc.poll() is None, f"training exited early with code {proc.returncode}"
            assert time.monotonic() < deadline, f"{ready} did not appear in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()


def test_killed_run_resumes_to_the_same_weights(tiny_config: Path, tmp_path: Path) -> None:
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    run_and_kill_when(argv(tiny_config, interrupted), interrupted / "checkpoint-5" / "trainer_state.json")
    assert not (interrupted / "model.safetensors").exists(), "the run finished before it was killed"

    resumed = run_training(*parse_args(argv(tiny_config, interrupted)))
    baseline = run_training(*parse_args(argv(tiny_config, reference)))
    assert resumed.state.global_step == baseline.state.global_step == STEPS

    a, b = load_file(interrupted / "model.safetensors"), load_file(reference / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=name)


def test_save_killed_midway_resumes_from_the_previous_checkpoint(tiny_config: Path, tmp_path: Path) -> None:
    """SIGKILL while checkpoint-10 is being written: checkpoint-5 stays the resume point and training ends."""
    out, flag = tmp_path / "killed_mid_save", tmp_path / "in_save.flag"
    fault = f"point=sft_checkpoint_save,action=sleep,seconds=600,call=2,flag={flag}"
    run_and_kill_when(argv(tiny_config, out), flag, env={"VERL_FAULT_INJECT": fault})
    assert (out / "checkpoint-10" / "model.safetensors").exists(), "the kill should land after the weights"
    assert not is_complete_checkpoint(out / "checkpoint-10")
    assert resume_checkpoint(out) == str(out / "checkpoint-5")

    resumed = run_training(*parse_args(argv(tiny_config, out)))
    assert resumed.state.global_step == STEPS
    assert is_complete_checkpoint(out / "checkpoint-10")  # redone by the resumed run

"""LoRA SFT runs: SIGKILL + resume ends like an uninterrupted run; ZeRO-2/3 over two gloo ranks save adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from finetuning.arguments import parse_args
from finetuning.train import run_training
from tests.finetuning.test_deepspeed import LAUNCHER_VARS, REPO_ROOT
from tests.finetuning.test_resume import STEPS, run_and_kill_when

pytestmark = pytest.mark.slow

# peft gathers the trainable token rows on a CUDA device under ZeRO-3, so the CPU ZeRO runs leave them out.
ZERO_FLAGS = ["--lora_enable", "True", "--lora_r", "8", "--lora_alpha", "16", "--lora_dropout", "0.0",
              "--lora_vision", "True", "--lora_merger", "False", "--tune_mm_mlp", "True"]
LORA_FLAGS = [*ZERO_FLAGS, "--lora_coord_tokens", "True"]
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "processor_config.json", "tokenizer.json")


def argv(config: Path, output_dir: Path) -> list[str]:
    return ["--config", str(config), "--output_dir", str(output_dir), *LORA_FLAGS, "--max_steps", str(STEPS),
            "--per_device_train_batch_size", "2", "--save_steps", "5", "--logging_steps", "1", "--report_to", "none",
            "--disable_tqdm", "True", "--seed", "0", "--dataloader_num_workers", "0"]


def assert_adapter_folder(folder: Path, coord_tokens: bool = True) -> dict[str, torch.Tensor]:
    """Adapter-only: adapter config/weights and processor files, no full model weights; returns the weights.

    The fully trained merger (``tune_mm_mlp`` without ``lora_merger``) is saved with the adapter.
    """
    for name in ADAPTER_FILES:
        assert (folder / name).is_file(), name
    assert not (folder / "model.safetensors").exists()
    weights = load_file(folder / "adapter_model.safetensors")
    assert any("lora_A" in k for k in weights) and any("visual.merger.mlp.0.weight" in k for k in weights)
    assert any("trainable_tokens" in k for k in weights) == coord_tokens
    return weights


def test_killed_lora_run_resumes_to_the_same_adapter(tiny_config: Path, tmp_path: Path) -> None:
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    run_and_kill_when(argv(tiny_config, interrupted), interrupted / "checkpoint-5" / "trainer_state.json")
    assert not (interrupted / "adapter_model.safetensors").exists(), "the run finished before it was killed"
    assert_adapter_folder(interrupted / "checkpoint-5")

    resumed = run_training(*parse_args(argv(tiny_config, interrupted)))
    baseline = run_training(*parse_args(argv(tiny_config, reference)))
    assert resumed.state.global_step == baseline.state.global_step == STEPS
    a, b = assert_adapter_folder(interrupted), assert_adapter_folder(reference)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=name)


def run_zero(config: Path, output_dir: Path, stage: int) -> list[float]:
    """Two torchrun ranks with ``scripts/zero<stage>.json`` and LoRA; returns the logged losses."""
    import os
    import subprocess
    import sys

    args = ["--config", str(config), "--output_dir", str(output_dir), "--deepspeed", f"scripts/zero{stage}.json",
            *ZERO_FLAGS, "--max_steps", "20", "--per_device_train_batch_size", "2", "--logging_steps", "1",
            "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "True", "--seed", "0",
            "--learning_rate", "1e-2"]
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT), PYTHONWARNINGS="ignore::FutureWarning")
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run([sys.executable, *launcher, "finetuning/train.py", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [h["loss"] for h in history if "loss" in h]


@pytest.mark.parametrize("stage", [2, 3])
def test_zero_two_ranks_train_and_save_the_full_adapter(tiny_config: Path, tmp_path: Path, stage: int) -> None:
    out = tmp_path / f"zero{stage}_lora"
    losses = run_zero(tiny_config, out, stage)
    assert len(losses) == 20 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.1, losses  # adapters learn
    weights = assert_adapter_folder(out, coord_tokens=False)
    # ZeRO-3 partitions every tensor; the save must gather full LoRA factors (r=8 rows of A).
    lora_a = [v for k, v in weights.items() if "lora_A" in k]
    assert lora_a and all(v.shape[0] == 8 and v.shape[1] > 0 for v in lora_a)
    assert all(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)  # B starts at 0: it trained

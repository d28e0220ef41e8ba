"""bench/gpu_check.py: import-clean for the GPU image (no mmengine/DeepSpeed/Ray), batches match the
collators, and the CPU dry run completes one step of everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("mmengine", "deepspeed", "ray", "vllm")


def test_import_chain_is_light() -> None:
    code = (f"import sys, bench.gpu_check; heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"gpu_check imports {proc.stdout.strip()} {proc.stderr[-2000:]}"


def test_batches_match_the_collators() -> None:
    from bench.gpu_check import DRY_RUN_VOCAB_BASE, SampleMaker, TokenIds, packed_batch, padded_batch
    from dataset.collator import DataCollatorForSupervisedDataset, FlattenedDataCollatorForSupervisedDataset
    from demo.tiny_model import tiny_config

    maker = SampleMaker(tiny_config("test", TokenIds(DRY_RUN_VOCAB_BASE)))
    samples = [maker.sft_sample((4, 6), 3, 5), maker.sft_sample((4, 4), 6, 2)]
    assert maker.rope_fallback is None
    for ours, theirs in ((padded_batch(samples, 0), DataCollatorForSupervisedDataset(pad_token_id=0)(samples)),
                         (packed_batch(samples), FlattenedDataCollatorForSupervisedDataset()(samples))):
        assert ours.keys() == theirs.keys()
        for key, value in ours.items():
            assert torch.equal(value, theirs[key]) if isinstance(value, torch.Tensor) else value == theirs[key], key


@pytest.mark.slow
def test_dry_run(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OUT": str(tmp_path), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", "bench/gpu_check.sh", "--dry-run"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "gpu_check.json").read_text())
    assert results["sft"]["packed"]["padding_fraction"] == 0.0
    assert results["sft"]["modes"] == ["padded", "packed", "padded_batched_windows", "packed_batched_windows"]
    assert set(results["sft"]["batched_windows_speedup"]) == {"padded", "packed"}
    assert set(results["grpo"]) >= {"generate", "log_probs", "update"}
    assert results["rope_fallback"] is None
    assert (tmp_path / "gpu_check.log").is_file() and "sft packed" in proc.stdout

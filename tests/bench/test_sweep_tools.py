"""bench/demo_sweep/sweep_tools.py: the score line the sweeps print, and the re-initialised model they train."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.demo_sweep import sweep_tools

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_score_line_reads_the_checkpoint_metrics(tmp_path: Path) -> None:
    checkpoint = tmp_path / "run" / "checkpoint-750"
    (checkpoint / "eval").mkdir(parents=True)
    metrics = {"box_f1@0.5": 0.98437, "parse_rate": 1.0, "mean_box_iou_reward": 0.7581, "num_predictions": 64,
               "num_gt": 64}
    (checkpoint / "eval" / "metrics.json").write_text(json.dumps(metrics))
    line = sweep_tools.score_line(str(checkpoint), "C_std006")
    assert line.split() == ["C_std006", "step", "750", "F1=0.984", "parse=1.00", "iou_reward=0.758", "npred=64",
                            "ngt=64"]


def test_reinit_draws_new_weights_with_the_given_std_and_theta(tmp_path: Path) -> None:
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from demo.tiny_model import build_tiny_rex_omni

    source = build_tiny_rex_omni(tmp_path / "model", size="test")
    result = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "demo_sweep" / "sweep_tools.py"), "reinit",
                             str(source), str(tmp_path / "out"), "0.2", "10"], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    before = Qwen2_5_VLForConditionalGeneration.from_pretrained(source)
    after = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "out")
    assert after.config.text_config.rope_parameters["rope_theta"] == 10
    weight = after.model.language_model.layers[0].mlp.up_proj.weight
    assert 0.15 < weight.std().item() < 0.25
    assert not torch.equal(weight, before.model.language_model.layers[0].mlp.up_proj.weight)
    assert (tmp_path / "out" / "tokenizer_config.json").is_file()
    bad = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "demo_sweep" / "sweep_tools.py"), "score"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "reinit" in bad.stderr

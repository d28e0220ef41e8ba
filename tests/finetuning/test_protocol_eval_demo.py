"""The CPU demo with in-training evaluation, end to end through ``scripts/sft.sh``: ``EVAL_STEPS=200`` over the
demo's 600 steps logs the validation protocol F1 at steps 200, 400 and 600 to TensorBoard, each equal to what
``tools/evaluate.py`` gives for the checkpoint saved at that step, and the best of them ends in OUTPUT_DIR.

It is the CPU demo as the docs give it: the launcher and its CPU defaults (demo/sft_cpu_defaults.sh: the demo
model, 600 steps, batch 8, learning rates, warm-up, soft-CE, SAVE_STEPS 200), configs/sft.py with its
val_dataset (the 64 held-out toy images, all of them: EVAL_MAX_SAMPLES unset), the in-training evaluation's
defaults (8 images per generate call, 256 new tokens) and BEST_METRIC's default. Two settings differ:

- ``SAVE_TOTAL_LIMIT=3`` instead of the demo's 2, so that all three checkpoints are there to evaluate again;
- ``EVAL=0``: no evaluation after training (the test evaluates each checkpoint itself).

It is slow: 7 minutes of CPU time, so about 5-7 minutes on 2 idle cores (the demo's 4 minutes of training,
then three evaluations of 64 images), and 28 minutes on the shared 2-core test machine at load average 15-24.
The test-size model is no faster here: its untrained answers run to the 256-token limit.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.finetuning.test_protocol_eval import event_files, read_events

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
EVAL_STEPS, STEPS = 200, 600
BEST = "eval/protocol_box_mean_f1"  # scripts/sft.sh's default BEST_METRIC for grounding
COMPARED = ("protocol_box_mean_f1", "protocol_box_f1@0.5", "parse_rate", "mean_box_iou_reward", "box_f1@0.5")
# TensorBoard stores a scalar as a 32-bit float: a metric in [0, 1] comes back within 2**-24 of the float64 that
# tools/evaluate.py writes. Both generate greedily from the same weights with the same batches, so the
# answers, and the metrics computed from them, are the same.
FLOAT32_ROUNDING = 2.0**-24


def run_demo_sft(out: Path) -> str:
    """``EVAL_STEPS=200 bash scripts/sft.sh`` without a GPU (the CPU demo) into ``out``; returns its output."""
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_PATH", "MAX_STEPS", "EVAL_MAX_SAMPLES")}
    env.update(GPUS_PER_NODE="0", REX_SKIP_INSTALL="1", PYTHONPATH=str(REPO_ROOT), EVAL_STEPS=str(EVAL_STEPS),
               SAVE_TOTAL_LIMIT="3", EVAL="0", OUTPUT_DIR=str(out), PYTHONWARNINGS="ignore::FutureWarning")
    proc = subprocess.run(["bash", "scripts/sft.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def evaluate_checkpoint(checkpoint: Path) -> dict[str, float]:
    """``tools/evaluate.py`` on a saved checkpoint: the demo config's val_dataset (no --split), its defaults
    for batch size, generation length, question seed and sample count (all), as the in-training evaluation."""
    from tools.evaluate import main

    out = checkpoint / "eval"
    assert main(["--model", str(checkpoint), "--config", str(REPO_ROOT / "configs" / "sft.py"), "--task",
                 "grounding", "--backend", "hf", "--num_visualisations", "0", "--output_dir", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.timeout(3600)  # 5-7 minutes on 2 idle cores; a shared machine can take several times that
def test_demo_sft_sh_with_eval_steps_logs_the_f1_of_each_checkpoint_and_keeps_the_best(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "sft_demo"
    log = run_demo_sft(out)
    assert "--max_steps 600" in log and "--eval_steps 200" in log  # the demo's schedule, as train.py got it
    monkeypatch.chdir(REPO_ROOT)  # the demo config's data_root is relative to the repository
    check_run(out)


def check_run(out: Path) -> None:
    """The run in ``out`` logged each step's F1, equal to tools/evaluate.py's for that step's checkpoint, and
    left the best checkpoint's weights in ``out``."""
    scalars, _ = read_events(out / "runs")
    assert len(event_files(out / "runs")) == 1
    steps = list(range(EVAL_STEPS, STEPS + 1, EVAL_STEPS))
    for key in COMPARED:
        assert [step for step, _ in scalars[f"eval/{key}"]] == steps, key
    assert sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*")) == steps

    for step in steps:
        expected = evaluate_checkpoint(out / f"checkpoint-{step}")
        assert expected["num_samples"] == 64  # the whole held-out split, as in training
        for key in COMPARED:
            assert dict(scalars[f"eval/{key}"])[step] == pytest.approx(expected[key], abs=FLOAT32_ROUNDING), (step, key)

    logged = dict(scalars[BEST])
    best_step = max(logged, key=lambda s: (logged[s], -s))  # HF keeps the first of equal values
    state = json.loads((out / "trainer_state.json").read_text())
    assert Path(state["best_model_checkpoint"]).name == f"checkpoint-{best_step}", logged
    final = load_file(out / "model.safetensors")
    best = load_file(out / f"checkpoint-{best_step}" / "model.safetensors")
    assert final.keys() == best.keys() and all((final[k] == best[k]).all() for k in best)
    if best_step != STEPS:  # the last step's weights differ, so the comparison above says something
        last = load_file(out / f"checkpoint-{STEPS}" / "model.safetensors")
        assert any((final[k] != last[k]).any() for k in best)

"""In-training protocol evaluation (finetuning/protocol_eval.py): SFT with --eval_steps logs the detection
metrics of tools/evaluate.py to TensorBoard at those steps, equal to what tools/evaluate.py gives for the
checkpoints saved there, keeps the best checkpoint, and runs under 2-rank ZeRO-2 without a hang.

The CPU demo's run (scripts/sft.sh, EVAL_STEPS=200 over 600 steps of the demo model) is reproduced with
the test model, 6 steps and EVAL_STEPS=2: the same train.py flags that sft.sh passes for EVAL_STEPS
(tests/test_scripts.py checks that mapping), at a size the test machine runs in about a minute. The demo's
own run, through scripts/sft.sh, is tests/finetuning/test_protocol_eval_demo.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.finetuning.conftest import write_config

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
EVAL_SAMPLES, EVAL_BATCH, NEW_TOKENS = 4, 2, 24
BEST = "eval/protocol_box_mean_f1"


def config_with_val(folder: Path, model: Path, toy: Path) -> Path:
    """The toy grounding config plus a val_dataset over the toy val split (same task function)."""
    path = write_config(folder, model, toy, lr=3e-3)
    text = path.read_text()
    val = text[text.index("train_dataset = dict("):text.index("data_collator")].replace("train_dataset", "val_dataset")
    path.write_text(text + val.replace("toy_grounding_train", "toy_grounding_val").replace('"toy"', '"toy_val"'))
    return path


def train_args(config: Path, out: Path, steps: int, every: int) -> list[str]:
    return ["--config", str(config), "--output_dir", str(out), "--tune_mm_vision", "True", "--tune_mm_mlp", "True",
            "--tune_mm_llm", "True", "--max_steps", str(steps), "--per_device_train_batch_size", "4",
            "--learning_rate", "3e-3", "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", str(every),
            "--eval_strategy", "steps", "--eval_steps", str(every), "--eval_max_samples", str(EVAL_SAMPLES),
            "--per_device_eval_batch_size", str(EVAL_BATCH), "--eval_max_new_tokens", str(NEW_TOKENS),
            "--eval_num_pictures", "2", "--report_to", "tensorboard",
            "--disable_tqdm", "True", "--seed", "0"]


def run(args: list[str], nproc: int | None = None) -> None:
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc else ["-m"]
    entry = ["finetuning/train.py"] if nproc else ["finetuning.train"]
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT), PYTHONWARNINGS="ignore::FutureWarning")
    proc = subprocess.run([sys.executable, *launcher, *entry, *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


def event_files(log_dir: Path) -> list[Path]:
    return sorted(log_dir.rglob("events.out.tfevents.*"))


def read_events(log_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], dict[str, list[int]]]:
    """Scalars (tag -> [(step, value)]) and image tags (tag -> [steps]) of every event file under ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars: dict[str, list[tuple[int, float]]] = {}
    images: dict[str, list[int]] = {}
    for path in event_files(log_dir):
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
        for tag in acc.Tags()["images"]:
            images.setdefault(tag, []).extend(e.step for e in acc.Images(tag))
    return scalars, images


def evaluate_checkpoint(checkpoint: Path, config: Path, toy: Path) -> dict[str, float]:
    """tools/evaluate.py on a saved checkpoint, with the in-training evaluation's settings."""
    from tools.evaluate import main

    out = checkpoint / "eval"
    assert main(["--model", str(checkpoint), "--split", str(toy / "toy_grounding_val"), "--task", "grounding",
                 "--config", str(config), "--max_samples", str(EVAL_SAMPLES), "--batch_size", str(EVAL_BATCH),
                 "--max_new_tokens", str(NEW_TOKENS), "--num_visualisations", "0", "--backend", "hf",
                 "--output_dir", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_sft_logs_protocol_metrics_equal_to_evaluate_and_keeps_the_best(tiny_model_dir: Path, toy_dir: Path,
                                                                        tmp_path: Path) -> None:
    config = config_with_val(tmp_path, tiny_model_dir, toy_dir)
    out = tmp_path / "sft"
    run([*train_args(config, out, steps=6, every=2), "--save_total_limit", "2", "--load_best_model_at_end", "True",
         "--metric_for_best_model", BEST])
    scalars, images = read_events(out / "runs")
    assert len(event_files(out / "runs")) == 1
    for tag in (BEST, "eval/protocol_box_f1@0.5", "eval/parse_rate", "eval/mean_box_iou_reward", "eval/loss"):
        assert [step for step, _ in scalars[tag]] == [2, 4, 6], tag
    assert sorted(images) == ["eval/pictures/toy_val/0", "eval/pictures/toy_val/1"]
    assert images["eval/pictures/toy_val/0"] == [2, 4, 6]

    state = json.loads((out / "trainer_state.json").read_text())
    logged = dict(scalars[BEST])
    best_step = max(logged, key=lambda s: (logged[s], -s))  # HF keeps the first of equal values
    assert state["best_model_checkpoint"].endswith(f"checkpoint-{best_step}")
    kept = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    # save_total_limit 2 keeps the newest and the best, however old: rotation deletes the others.
    assert kept == sorted({best_step, 6}), (kept, logged)
    # load_best_model_at_end: the final folder holds the best checkpoint's weights.
    final, best = load_file(out / "model.safetensors"), load_file(out / f"checkpoint-{best_step}" / "model.safetensors")
    assert all((final[k] == best[k]).all() for k in best)

    for step in kept:
        expected = evaluate_checkpoint(out / f"checkpoint-{step}", config, toy_dir)
        for key in ("protocol_box_mean_f1", "protocol_box_f1@0.5", "parse_rate", "mean_box_iou_reward", "box_f1@0.5"):
            got = dict(scalars[f"eval/{key}"])[step]
            assert got == pytest.approx(expected[key], abs=1e-6), (step, key)


@pytest.mark.parametrize("stage", [2, 3])
def test_two_rank_deepspeed_evaluates_without_hang_and_logs_once(tiny_model_dir: Path, toy_dir: Path,
                                                                 tmp_path: Path, stage: int) -> None:
    """ZeRO-2: each rank generates with its full copy; ZeRO-3: with synced generate calls on sharded weights."""
    config = config_with_val(tmp_path, tiny_model_dir, toy_dir)
    out = tmp_path / f"zero{stage}"
    run([*train_args(config, out, steps=2, every=2), "--deepspeed", f"scripts/zero{stage}.json"], nproc=2)
    scalars, images = read_events(out / "runs")
    assert len(event_files(out / "runs")) == 1  # rank 0 only
    assert [step for step, _ in scalars[BEST]] == [2]  # the last step is an eval step: evaluated once
    assert images["eval/pictures/toy_val/0"] == [2]
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    evals = [h for h in history if "eval_protocol_box_mean_f1" in h]
    assert len(evals) == 1 and evals[0]["eval_num_samples"] == EVAL_SAMPLES  # both ranks' answers gathered


def test_lora_run_evaluates_and_loads_the_best_adapter(tiny_model_dir: Path, toy_dir: Path, tmp_path: Path) -> None:
    config = config_with_val(tmp_path, tiny_model_dir, toy_dir)
    out = tmp_path / "lora"
    run([*train_args(config, out, steps=4, every=2), "--lora_enable", "True", "--lora_r", "4", "--lora_alpha", "8",
         "--load_best_model_at_end", "True", "--metric_for_best_model", BEST])
    scalars, images = read_events(out / "runs")
    assert [step for step, _ in scalars[BEST]] == [2, 4] and images["eval/pictures/toy_val/0"] == [2, 4]
    state = json.loads((out / "trainer_state.json").read_text())
    assert Path(state["best_model_checkpoint"]).name in {"checkpoint-2", "checkpoint-4"}

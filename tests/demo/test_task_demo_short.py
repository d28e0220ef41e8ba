"""A short task demo for CI: SFT on the mixed-task config (configs/sft_tasks.py) for a few steps with the
test-size model (evaluating every val_dataset as its task at the end), then ``tools/evaluate.py --config ...
--task T`` for several of the new tasks, each on its own val_dataset of that config. Checks that the whole path runs and that each task's metrics.json holds the
keys of its official protocol (docs/tasks.md), not what a few steps learn.

Runs alone with ``pytest -m task_demo`` (2 minutes on 2 busy cores, 30 s of CPU time).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.demo.test_demo_recipe import demo_configs, demo_sft_argv

pytestmark = [pytest.mark.slow, pytest.mark.task_demo]

SFT_STEPS = 3
NUM_TRAIN, NUM_VAL = 8, 4

# --task -> (official task_name in predictions.jsonl, protocol_* keys metrics.json must hold), as docs/tasks.md.
PROTOCOL = {
    "visual_prompt": ("visual_prompt_detection", ("protocol_box_mean_f1", "protocol_visual_prompt_mae",
                                                  "protocol_visual_prompt_duplicate_ratio")),
    "keypoint": ("keypoint", ("protocol_keypoint_ap@0.5", "protocol_keypoint_ap@0.75", "protocol_keypoint_ap@0.9",
                              "protocol_keypoint_ap@0.95", "protocol_keypoint_mean_f1", "protocol_keypoint_avg_oks")),
    "ocr_box": ("ocr_box", ("protocol_box_mean_f1",)),
    "ocr_polygon": ("task2_detect_all_in_polygon_and_recog", ("protocol_polygon_mean_f1",)),
    "gui_pointing": ("gui", ("protocol_gui_accuracy",)),
}
REWARDS = {"visual_prompt": "vp_box_iou", "keypoint": "keypoint_oks", "ocr_box": "ocr_box_iou",
           "ocr_polygon": "polygon_iou", "gui_pointing": "gui_hit"}


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every toy set the mixed config names, small."""
    from demo.task_toy_data import TASK_SCENES, make_task_toy_dataset
    from demo.toy_data import make_toy_datasets

    root = tmp_path_factory.mktemp("task_demo_toy")
    make_toy_datasets(str(root), num_train=NUM_TRAIN, num_val=NUM_VAL, image_size=(112, 112), seed=0)
    for task in TASK_SCENES:
        make_task_toy_dataset(str(root), task, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, progress=False)
    return root


def test_short_task_demo_trains_the_mixed_config_and_evaluates_each_task(tiny_model_dir: Path, toy_root: Path,
                                                                         tmp_path: Path) -> None:
    from finetuning.arguments import parse_args
    from finetuning.train import run_training, setup_logging
    from tools import evaluate

    config = demo_configs(tmp_path, toy_root, tiny_model_dir) / "sft_tasks.py"
    model = tmp_path / "sft"
    # In-training evaluation after the last step: one question per val_dataset, each scored as its task.
    args = parse_args(demo_sft_argv(config, model, SFT_STEPS) + [
        "--eval_strategy", "steps", "--eval_steps", str(SFT_STEPS), "--eval_max_samples", "1",
        "--per_device_eval_batch_size", "1", "--eval_max_new_tokens", "16", "--eval_num_pictures", "1"])
    setup_logging(args[2])
    trainer = run_training(*args)
    assert (model / "config.json").is_file()
    logged = {key for row in trainer.state.log_history for key in row}
    for task, (_, protocol_keys) in PROTOCOL.items():
        assert f"eval_toy_{task}_val/{protocol_keys[0]}" in logged, (task, sorted(logged))

    for task, (task_name, protocol_keys) in PROTOCOL.items():
        out = tmp_path / "eval" / task
        assert evaluate.main(["--model", str(model), "--config", str(config), "--task", task, "--output_dir", str(out),
                              "--backend", "hf", "--batch_size", str(NUM_VAL), "--max_new_tokens", "24",
                              "--num_visualisations", "1"]) == 0, task
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["split"] == str(toy_root / f"toy_{'gui' if task.startswith('gui') else task}_val"), task
        for key in (*protocol_keys, "parse_rate", f"mean_{REWARDS[task]}_reward"):
            value = metrics.get(key)
            assert isinstance(value, (int, float)) and math.isfinite(value), (task, key, value)
        assert 0 <= metrics["parse_rate"] <= 1 and 0 <= metrics[f"mean_{REWARDS[task]}_reward"] <= 1
        rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
        assert len(rows) == NUM_VAL and {row["task_name"] for row in rows} == {task_name}, task

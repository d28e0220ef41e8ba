"""Each converted format trains: a few SFT steps of the test-size model on its TSV triple."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from dataset.real_data import SourceOptions, convert_records, iter_source_records
from finetuning.arguments import parse_args
from finetuning.train import run_training, setup_logging

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]

CONFIG = '''
from dataset.collator import DataCollatorForSupervisedDataset
from dataset.concat_dataset import ConcatDataset
from dataset.sft_dataset import {dataset}
from dataset.task_fns import {task_fn}
from dataset.task_fns.task_prompts import {prompts}

model_name_or_path = "{model}"
min_pixels = 4 * 28 * 28
max_pixels = 16 * 28 * 28
train_dataset = dict(
    type=ConcatDataset,
    datasets=[dict(
        type={dataset},
        img_tsv_file="{prefix}.images.tsv",
        ann_tsv_file="{prefix}.annotations.tsv",
        ann_lineidx_file="{prefix}.annotations.tsv.lineidx",
        image_min_pixels=min_pixels,
        image_max_pixels=max_pixels,
        task_fn=dict(type={task_fn}, task_prompts={prompts}),
        dataset_name="{name}",
    )],
)
data_collator = dict(type=DataCollatorForSupervisedDataset)
learning_rate = 1e-3
'''

TASKS = {
    "grounding": ("GroundingTSVDataset", "GroundingTaskFn", "GROUNDING_SINGLE_REGION_STAGE_XYXY"),
    "pointing": ("PointingTSVDataset", "PointingTaskFn", "POINTING_TASK_PROMPTS"),
}


@pytest.fixture(scope="module")
def tiny_model() -> Path:
    from demo.tiny_model import build_tiny_rex_omni

    return build_tiny_rex_omni(REPO_ROOT / "work_dirs" / "models" / "rex-omni-test", size="test")


@pytest.mark.parametrize(("fmt", "ann", "task", "extra"), [
    ("coco", "coco.json", "grounding", {}),
    ("coco", "coco.json", "pointing", {}),
    ("lvis", "lvis.json", "grounding", {}),
    ("refcoco", "coco.json", "pointing", {"refs_file": "refs.json"}),
    ("odvg", "odvg_ground.jsonl", "grounding", {}),
])
def test_converted_format_trains(real_sources: dict[str, Any], tiny_model: Path, tmp_path: Path,
                                 fmt: str, ann: str, task: str, extra: dict[str, str]) -> None:
    root = real_sources["root"]
    options = SourceOptions(format=fmt, ann_file=str(root / ann), **{k: str(root / v) for k, v in extra.items()})
    prefix = tmp_path / fmt
    stats = convert_records(iter_source_records(options), str(real_sources["images"]), tsv_prefix=str(prefix),
                            progress=False)
    assert stats.num_written >= 6
    dataset, task_fn, prompts = TASKS[task]
    config = tmp_path / "config.py"
    config.write_text(CONFIG.format(dataset=dataset, task_fn=task_fn, prompts=prompts, model=tiny_model,
                                    prefix=prefix, name=fmt))
    args = parse_args(["--config", str(config), "--output_dir", str(tmp_path / "run"), "--max_steps", "3",
                       "--tune_mm_llm", "True", "--tune_mm_mlp", "True",
                       "--per_device_train_batch_size", "2", "--logging_steps", "1", "--save_strategy", "no",
                       "--report_to", "none", "--disable_tqdm", "True", "--seed", "0"])
    setup_logging(args[2])
    trainer = run_training(*args)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(math.isfinite(x) and x > 0 for x in losses)

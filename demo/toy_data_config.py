"""A GRPO data config (``data.config_path``) over a folder written by ``tools/make_toy_data.py``.

Tests and benchmarks train on it: the grounding and pointing train splits (``box_iou`` and
``point_in_box`` rewards) and, for validation, the grounding val split.
"""

from __future__ import annotations

import os
from pathlib import Path

_TEMPLATE = '''
from dataset.task_fns import GroundingTaskFn, PointingTaskFn
from dataset.task_fns.task_prompts.grounding_task import GROUNDING_SINGLE_REGION_STAGE_XYXY
from dataset.task_fns.task_prompts.pointing_task import POINTING_TASK_PROMPTS
from dataset.tsv import TsvPaths
from verl.utils.dataset import TSVRLHFDataset

root = {root}

def _entry(stem, task_fn, reward_name):
    return dict(type=TSVRLHFDataset, **TsvPaths.from_prefix(f"{{root}}/{{stem}}").dataset_kwargs(),
                image_min_pixels=16 * 28 * 28, image_max_pixels=256 * 28 * 28, task_fn=task_fn,
                dataset_name=stem, reward_name=reward_name)

grounding = dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY)
pointing = dict(type=PointingTaskFn, task_prompts=POINTING_TASK_PROMPTS)
train_dataset = [_entry("toy_grounding_train", grounding, "box_iou"),
                 _entry("toy_pointing_train", pointing, "point_in_box")]
val_dataset = [_entry("toy_grounding_val", grounding, "box_iou")]
'''


def write_toy_data_config(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """Write the config for the toy data under ``root`` to ``path``; returns ``path``."""
    path = Path(path)
    path.write_text(_TEMPLATE.format(root=repr(str(root))), encoding="utf-8")
    return path

"""GRPO on every toy task at once, each dataset scored by the reward it names (reward_name), as
configs/sft_tasks.py trains them. Toy data: python tools/make_toy_data.py (grounding, pointing) and
python tools/make_toy_data.py --task all (the other tasks); read by verl/trainer/data_loader.py via
data.config_path, which checks every reward_name when it builds the datasets. Every dataset keeps at most
SAMPLES_PER_TASK training images, as in configs/sft_tasks.py.

Rewards (docs/tasks.md): box_iou (grounding), point_in_box (pointing), vp_box_iou (visual prompting),
keypoint_oks (keypoints), ocr_box_iou (OCR boxes), polygon_iou (OCR polygons), gui_hit (GUI grounding
and pointing). The GRPO log shows each as reward/by_reward/<reward_name> and reward/by_dataset/<dataset_name>.

data_root, min_pixels and max_pixels come from configs/_base_/data.py. For real data: change data_root
there and the file stems below.
"""

_base_ = ["./_base_/data.py"]

from dataset.task_fns import (
    GroundingTaskFn,
    GuiGroundingTaskFn,
    GuiPointingTaskFn,
    KeypointTaskFn,
    OcrBoxTaskFn,
    OcrPolygonTaskFn,
    PointingTaskFn,
    VisualPromptTaskFn,
)
from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY, POINTING_TASK_PROMPTS
from verl.utils.dataset import TSVRLHFDataset

SAMPLES_PER_TASK = 512
_pixels = dict(image_min_pixels=_base_.min_pixels, image_max_pixels=_base_.max_pixels)

# task -> (file stem under data_root without _train/_val, task function, reward_name).
task_datasets = dict(
    grounding=("toy_grounding", dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY,
                                     **_pixels), "box_iou"),
    pointing=("toy_pointing", dict(type=PointingTaskFn, task_prompts=POINTING_TASK_PROMPTS, **_pixels),
              "point_in_box"),
    visual_prompt=("toy_visual_prompt", dict(type=VisualPromptTaskFn, **_pixels), "vp_box_iou"),
    keypoint=("toy_keypoint", dict(type=KeypointTaskFn, **_pixels), "keypoint_oks"),
    ocr_box=("toy_ocr_box", dict(type=OcrBoxTaskFn, **_pixels), "ocr_box_iou"),
    ocr_polygon=("toy_ocr_polygon", dict(type=OcrPolygonTaskFn, **_pixels), "polygon_iou"),
    gui_grounding=("toy_gui", dict(type=GuiGroundingTaskFn, **_pixels), "gui_hit"),
    gui_pointing=("toy_gui", dict(type=GuiPointingTaskFn, **_pixels), "gui_hit"),
)


def _dataset(task: str, split: str) -> dict:
    """The ``task`` dataset over the TSV triple data_root/{stem}_{split}.images.tsv, .annotations.tsv(.lineidx),
    named toy_<task> (train) or toy_<task>_val, with the task's reward."""
    stem, task_fn, reward_name = task_datasets[task]
    prefix = f"{_base_.data_root}/{stem}_{split}"
    return dict(
        type=TSVRLHFDataset,
        img_tsv_file=f"{prefix}.images.tsv",
        ann_tsv_file=f"{prefix}.annotations.tsv",
        ann_lineidx_file=f"{prefix}.annotations.tsv.lineidx",
        task_fn=task_fn,
        dataset_name=f"toy_{task}" if split == "train" else f"toy_{task}_val",
        reward_name=reward_name,
        **({"max_num_samples": SAMPLES_PER_TASK} if split == "train" else {}),
        **_pixels,
    )


train_dataset = [_dataset(task, "train") for task in task_datasets]
val_dataset = [_dataset(task, "val") for task in task_datasets]

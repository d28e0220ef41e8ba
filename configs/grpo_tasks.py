"""GRPO on every toy task at once, each dataset scored by the reward it names (reward_name), as
configs/sft_tasks.py trains them. Toy data: python tools/make_toy_data.py (grounding, pointing) and
python tools/make_toy_data.py --task all (the other tasks); read by verl/trainer/data_loader.py via
data.config_path, which checks every reward_name when it builds the datasets. Every dataset keeps at most
SAMPLES_PER_TASK training images, as in configs/sft_tasks.py.

Rewards (docs/tasks.md): box_iou (grounding), point_in_box (pointing), vp_box_iou (visual prompting),
keypoint_oks (keypoints), ocr_box_iou (OCR boxes), polygon_iou (OCR polygons), gui_hit (GUI grounding
and pointing). The GRPO log shows each as reward/by_reward/<reward_name> and reward/by_dataset/<dataset_name>.

data_root, min_pixels and max_pixels come from configs/_base_/data.py, the task table (file stems, task
functions, SAMPLES_PER_TASK) from configs/_base_/tasks.py. For real data: change data_root and the stems there.
"""

_base_ = ["./_base_/data.py", "./_base_/tasks.py"]

from verl.utils.dataset import TSVRLHFDataset

_pixels = dict(image_min_pixels=_base_.min_pixels, image_max_pixels=_base_.max_pixels)
# task -> the reward that scores its answers.
task_rewards = dict(grounding="box_iou", pointing="point_in_box", visual_prompt="vp_box_iou", keypoint="keypoint_oks",
                    ocr_box="ocr_box_iou", ocr_polygon="polygon_iou", gui_grounding="gui_hit", gui_pointing="gui_hit")


def _dataset(task: str, split: str) -> dict:
    """The ``task`` dataset over the TSV triple data_root/{stem}_{split}.images.tsv, .annotations.tsv(.lineidx),
    named toy_<task> (train) or toy_<task>_val, with the task's reward."""
    stem, task_fn = _base_.task_datasets[task]
    prefix = f"{_base_.data_root}/{stem}_{split}"
    return dict(
        type=TSVRLHFDataset,
        img_tsv_file=f"{prefix}.images.tsv",
        ann_tsv_file=f"{prefix}.annotations.tsv",
        ann_lineidx_file=f"{prefix}.annotations.tsv.lineidx",
        task_fn=dict(task_fn, **_pixels),
        dataset_name=f"toy_{task}" if split == "train" else f"toy_{task}_val",
        reward_name=task_rewards[task],
        **({"max_num_samples": _base_.SAMPLES_PER_TASK} if split == "train" else {}),
        **_pixels,
    )


train_dataset = [_dataset(task, "train") for task in _base_.task_datasets]
val_dataset = [_dataset(task, "val") for task in _base_.task_datasets]

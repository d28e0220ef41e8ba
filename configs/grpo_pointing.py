"""GRPO on the toy pointing data: the same toy images scored by point_in_box and point_in_mask.
The toy pointing annotations carry a point, its box and its COCO-RLE mask per object.

data_root, min_pixels and max_pixels come from configs/_base_/data.py. For real data: change data_root
there, and the file stems, dataset names and rewards below.
"""

_base_ = ["./_base_/data.py"]

from dataset.task_fns import PointingTaskFn
from dataset.task_fns.task_prompts.pointing_task import POINTING_TASK_PROMPTS
from verl.utils.dataset import TSVRLHFDataset

pointing_task_fn = dict(
    type=PointingTaskFn,
    task_prompts=POINTING_TASK_PROMPTS,
    image_min_pixels=_base_.min_pixels,
    image_max_pixels=_base_.max_pixels,
)


def _pointing(stem: str, dataset_name: str, reward_name: str) -> dict:
    """One dataset over the TSV triple data_root/{stem}.images.tsv, .annotations.tsv(.lineidx)."""
    return dict(
        type=TSVRLHFDataset,
        img_tsv_file=f"{_base_.data_root}/{stem}.images.tsv",
        ann_tsv_file=f"{_base_.data_root}/{stem}.annotations.tsv",
        ann_lineidx_file=f"{_base_.data_root}/{stem}.annotations.tsv.lineidx",
        image_min_pixels=_base_.min_pixels,
        image_max_pixels=_base_.max_pixels,
        task_fn=pointing_task_fn,
        dataset_name=dataset_name,
        reward_name=reward_name,
    )


train_dataset = [
    _pointing("toy_pointing_train", "toy_pointing_point_in_box", reward_name="point_in_box"),
    _pointing("toy_pointing_train", "toy_pointing_point_in_mask", reward_name="point_in_mask"),
]
val_dataset = [_pointing("toy_pointing_val", "toy_pointing_point_in_box", reward_name="point_in_box")]

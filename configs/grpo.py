"""GRPO on the toy grounding data (read by verl/trainer/data_loader.py via data.config_path).

data_root, min_pixels and max_pixels come from configs/_base_/data.py. Paths are relative to the
launch directory (the repository root). For real data: change data_root there, and the file stems,
dataset names and rewards below (reward_name: box_iou, point_in_box, point_in_mask or your own).
"""

_base_ = ["./_base_/data.py"]

from dataset.task_fns import GroundingTaskFn
from dataset.task_fns.task_prompts.grounding_task import GROUNDING_SINGLE_REGION_STAGE_XYXY
from verl.utils.dataset import TSVRLHFDataset

grounding_task_fn = dict(
    type=GroundingTaskFn,
    task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY,
    image_min_pixels=_base_.min_pixels,
    image_max_pixels=_base_.max_pixels,
)


def _grounding(stem: str, dataset_name: str, reward_name: str) -> dict:
    """One dataset over the TSV triple data_root/{stem}.images.tsv, .annotations.tsv(.lineidx)."""
    return dict(
        type=TSVRLHFDataset,
        img_tsv_file=f"{_base_.data_root}/{stem}.images.tsv",
        ann_tsv_file=f"{_base_.data_root}/{stem}.annotations.tsv",
        ann_lineidx_file=f"{_base_.data_root}/{stem}.annotations.tsv.lineidx",
        image_min_pixels=_base_.min_pixels,
        image_max_pixels=_base_.max_pixels,
        task_fn=grounding_task_fn,
        dataset_name=dataset_name,
        reward_name=reward_name,
    )


train_dataset = [_grounding("toy_grounding_train", "toy_grounding", reward_name="box_iou")]
val_dataset = [_grounding("toy_grounding_val", "toy_grounding_val", reward_name="box_iou")]

# GRPO pointing data (mmengine config): the same toy images scored by point_in_box and point_in_mask.
# The toy pointing annotations carry a point, its box and its COCO-RLE mask per object.
from dataset.task_fns import PointingTaskFn
from dataset.task_fns.task_prompts.pointing_task import POINTING_TASK_PROMPTS
from verl.utils.dataset import TSVRLHFDataset

min_pixels = 16 * 28 * 28
max_pixels = 2560 * 28 * 28
data_root = "work_dirs/toy_data"

pointing_task_fn = dict(
    type=PointingTaskFn,
    task_prompts=POINTING_TASK_PROMPTS,
    image_min_pixels=min_pixels,
    image_max_pixels=max_pixels,
)


def _pointing(split: str, reward_name: str) -> dict:
    stem = f"{data_root}/toy_pointing_{split}"
    return dict(
        type=TSVRLHFDataset,
        img_tsv_file=f"{stem}.images.tsv",
        ann_tsv_file=f"{stem}.annotations.tsv",
        ann_lineidx_file=f"{stem}.annotations.tsv.lineidx",
        image_min_pixels=min_pixels,
        image_max_pixels=max_pixels,
        task_fn=pointing_task_fn,
        dataset_name=f"toy_pointing_{reward_name}",
        reward_name=reward_name,
    )


train_dataset = [_pointing("train", "point_in_box"), _pointing("train", "point_in_mask")]
val_dataset = [_pointing("val", "point_in_box")]

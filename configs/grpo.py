# GRPO grounding data (mmengine config; read by verl/trainer/data_loader.py via data.config_path).
# Paths are relative to the repository root (the launch directory). Toy data: tools/make_toy_data.py.
from dataset.task_fns import GroundingTaskFn
from dataset.task_fns.task_prompts.grounding_task import GROUNDING_SINGLE_REGION_STAGE_XYXY
from verl.utils.dataset import TSVRLHFDataset

min_pixels = 16 * 28 * 28
max_pixels = 2560 * 28 * 28
data_root = "work_dirs/toy_data"

grounding_task_fn = dict(
    type=GroundingTaskFn,
    task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY,
    image_min_pixels=min_pixels,
    image_max_pixels=max_pixels,
)

train_dataset = [
    dict(
        type=TSVRLHFDataset,
        img_tsv_file=f"{data_root}/toy_grounding_train.images.tsv",
        ann_tsv_file=f"{data_root}/toy_grounding_train.annotations.tsv",
        ann_lineidx_file=f"{data_root}/toy_grounding_train.annotations.tsv.lineidx",
        image_min_pixels=min_pixels,
        image_max_pixels=max_pixels,
        task_fn=grounding_task_fn,
        dataset_name="toy_grounding",
        reward_name="box_iou",
    ),
]

val_dataset = [
    dict(
        type=TSVRLHFDataset,
        img_tsv_file=f"{data_root}/toy_grounding_val.images.tsv",
        ann_tsv_file=f"{data_root}/toy_grounding_val.annotations.tsv",
        ann_lineidx_file=f"{data_root}/toy_grounding_val.annotations.tsv.lineidx",
        image_min_pixels=min_pixels,
        image_max_pixels=max_pixels,
        task_fn=grounding_task_fn,
        dataset_name="toy_grounding_val",
        reward_name="box_iou",
    ),
]

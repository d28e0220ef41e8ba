"""SFT on the toy grounding data (python tools/make_toy_data.py) with the demo model
(python tools/make_tiny_model.py --size demo).

model_name_or_path, min_pixels, max_pixels, data_root and data_collator come from configs/_base_/sft.py
and configs/_base_/data.py. For real data: change those (model, data_root, pixel limits) and the file
stems and dataset names below.
"""

_base_ = ["./_base_/sft.py"]

from dataset.concat_dataset import ConcatDataset
from dataset.sft_dataset import GroundingTSVDataset
from dataset.task_fns import GroundingTaskFn
from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY

grounding_task_fn = dict(
    type=GroundingTaskFn,
    task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY,
    max_negatives=0,  # demo: no absent phrases; a greedy `None` beats spread-out coordinate bins
    image_min_pixels=_base_.min_pixels,
    image_max_pixels=_base_.max_pixels,
)


def _grounding(stem: str, dataset_name: str) -> dict:
    """One dataset over the TSV triple data_root/{stem}.images.tsv, .annotations.tsv(.lineidx)."""
    return dict(
        type=GroundingTSVDataset,
        img_tsv_file=f"{_base_.data_root}/{stem}.images.tsv",
        ann_tsv_file=f"{_base_.data_root}/{stem}.annotations.tsv",
        ann_lineidx_file=f"{_base_.data_root}/{stem}.annotations.tsv.lineidx",
        image_min_pixels=_base_.min_pixels,
        image_max_pixels=_base_.max_pixels,
        task_fn=grounding_task_fn,
        dataset_name=dataset_name,
    )


train_dataset = dict(type=ConcatDataset, datasets=[_grounding("toy_grounding_train", "toy_grounding")])
val_dataset = dict(type=ConcatDataset, datasets=[_grounding("toy_grounding_val", "toy_grounding_val")])

"""SFT on every toy task at once (one ConcatDataset) with the demo model (python tools/make_tiny_model.py
--size demo). Toy data: python tools/make_toy_data.py (grounding, pointing) and
python tools/make_toy_data.py --task all (visual prompting, keypoints, OCR boxes and polygons, GUI).

Each task is one TSV dataset with its own task function; the GUI set is asked twice, as GUI grounding
and as GUI pointing. Every dataset keeps at most SAMPLES_PER_TASK training images, so each task gets the
same share of the steps (the grounding/pointing toy sets have 2048, the others 512). Validation: one
dataset per task, named toy_<task>_val. Referring and hallucination have no toy set: add a ReferringTaskFn
dataset over your own data (docs/tasks.md).

model_name_or_path, min_pixels, max_pixels, data_root and data_collator come from configs/_base_/sft.py
and configs/_base_/data.py. For real data: change those and the file stems below.
"""

_base_ = ["./_base_/sft.py"]

from dataset.concat_dataset import ConcatDataset
from dataset.sft_dataset import TSVDataset
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

SAMPLES_PER_TASK = 512
_pixels = dict(image_min_pixels=_base_.min_pixels, image_max_pixels=_base_.max_pixels)

# task -> (file stem under data_root without _train/_val, task function). max_negatives=0 as configs/sft.py.
task_datasets = dict(
    grounding=("toy_grounding", dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY,
                                     max_negatives=0, **_pixels)),
    pointing=("toy_pointing", dict(type=PointingTaskFn, task_prompts=POINTING_TASK_PROMPTS, max_negatives=0,
                                   **_pixels)),
    visual_prompt=("toy_visual_prompt", dict(type=VisualPromptTaskFn, **_pixels)),
    keypoint=("toy_keypoint", dict(type=KeypointTaskFn, **_pixels)),
    ocr_box=("toy_ocr_box", dict(type=OcrBoxTaskFn, **_pixels)),
    ocr_polygon=("toy_ocr_polygon", dict(type=OcrPolygonTaskFn, **_pixels)),
    gui_grounding=("toy_gui", dict(type=GuiGroundingTaskFn, **_pixels)),
    gui_pointing=("toy_gui", dict(type=GuiPointingTaskFn, **_pixels)),
)


def _dataset(task: str, split: str) -> dict:
    """The ``task`` dataset over the TSV triple data_root/{stem}_{split}.images.tsv, .annotations.tsv(.lineidx),
    named toy_<task> (train) or toy_<task>_val."""
    stem, task_fn = task_datasets[task]
    prefix = f"{_base_.data_root}/{stem}_{split}"
    return dict(
        type=TSVDataset,
        img_tsv_file=f"{prefix}.images.tsv",
        ann_tsv_file=f"{prefix}.annotations.tsv",
        ann_lineidx_file=f"{prefix}.annotations.tsv.lineidx",
        task_fn=task_fn,
        dataset_name=f"toy_{task}" if split == "train" else f"toy_{task}_val",
        **({"max_num_samples": SAMPLES_PER_TASK} if split == "train" else {}),
        **_pixels,
    )


train_dataset = dict(type=ConcatDataset, datasets=[_dataset(task, "train") for task in task_datasets])
val_dataset = dict(type=ConcatDataset, datasets=[_dataset(task, "val") for task in task_datasets])

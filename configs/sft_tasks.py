"""SFT on every toy task at once (one ConcatDataset) with the demo model (python tools/make_tiny_model.py
--size demo). Toy data: python tools/make_toy_data.py (grounding, pointing) and
python tools/make_toy_data.py --task all (visual prompting, keypoints, OCR boxes and polygons, GUI).

Each task is one TSV dataset with its own task function; the GUI set is asked twice, as GUI grounding
and as GUI pointing. Every dataset keeps at most SAMPLES_PER_TASK training images, so each task gets the
same share of the steps (the grounding/pointing toy sets have 2048, the others 512). Validation: one
dataset per task, named toy_<task>_val. Referring and hallucination have no toy set: add a ReferringTaskFn
dataset over your own data (docs/tasks.md).

model_name_or_path, min_pixels, max_pixels, data_root and data_collator come from configs/_base_/sft.py
and configs/_base_/data.py, the task table (file stems, task functions, SAMPLES_PER_TASK) from
configs/_base_/tasks.py. For real data: change those.
"""

_base_ = ["./_base_/sft.py", "./_base_/tasks.py"]

from dataset.concat_dataset import ConcatDataset
from dataset.sft_dataset import TSVDataset

_pixels = dict(image_min_pixels=_base_.min_pixels, image_max_pixels=_base_.max_pixels)
# max_negatives=0 as configs/sft.py (grounding and pointing only: the other task functions have none).
_no_negatives = dict(max_negatives=0)
_task_options = dict(grounding=_no_negatives, pointing=_no_negatives)


def _dataset(task: str, split: str) -> dict:
    """The ``task`` dataset over the TSV triple data_root/{stem}_{split}.images.tsv, .annotations.tsv(.lineidx),
    named toy_<task> (train) or toy_<task>_val."""
    stem, task_fn = _base_.task_datasets[task]
    prefix = f"{_base_.data_root}/{stem}_{split}"
    return dict(
        type=TSVDataset,
        img_tsv_file=f"{prefix}.images.tsv",
        ann_tsv_file=f"{prefix}.annotations.tsv",
        ann_lineidx_file=f"{prefix}.annotations.tsv.lineidx",
        task_fn=dict(task_fn, **_task_options.get(task, {}), **_pixels),
        dataset_name=f"toy_{task}" if split == "train" else f"toy_{task}_val",
        **({"max_num_samples": _base_.SAMPLES_PER_TASK} if split == "train" else {}),
        **_pixels,
    )


train_dataset = dict(type=ConcatDataset, datasets=[_dataset(task, "train") for task in _base_.task_datasets])
val_dataset = dict(type=ConcatDataset, datasets=[_dataset(task, "val") for task in _base_.task_datasets])

"""SFT on the toy pointing data (python tools/make_toy_data.py) with the demo model
(python tools/make_tiny_model.py --size demo). Swap the paths for real data and Rex-Omni.

Top-level keys that name a train.py argument (model_name_or_path, min_pixels, max_pixels, ...)
set it unless the same flag is given on the command line.
"""

from dataset.collator import DataCollatorForSupervisedDataset
from dataset.concat_dataset import ConcatDataset
from dataset.sft_dataset import PointingTSVDataset
from dataset.task_fns import PointingTaskFn
from dataset.task_fns.task_prompts import POINTING_TASK_PROMPTS

model_name_or_path = "work_dirs/models/rex-omni-demo"  # or "IDEA-Research/Rex-Omni"
# The demo toy images (112 px) keep their size: 4 x 4 = 16 visual tokens of 28 px; --preset varied
# images (224 px) give 8 x 8 = 64. For real data use the released limits: 16 * 28 * 28 and 2560 * 28 * 28.
min_pixels = 16 * 28 * 28
max_pixels = 64 * 28 * 28
data_root = "work_dirs/toy_data"

train_dataset = dict(
    type=ConcatDataset,
    datasets=[
        dict(
            type=PointingTSVDataset,
            img_tsv_file=f"{data_root}/toy_pointing_train.images.tsv",
            ann_tsv_file=f"{data_root}/toy_pointing_train.annotations.tsv",
            ann_lineidx_file=f"{data_root}/toy_pointing_train.annotations.tsv.lineidx",
            image_min_pixels=min_pixels,
            image_max_pixels=max_pixels,
            task_fn=dict(
                type=PointingTaskFn,
                task_prompts=POINTING_TASK_PROMPTS,
                max_negatives=0,  # demo: no absent phrases; a greedy `None` beats spread-out coordinate bins
                image_min_pixels=min_pixels,
                image_max_pixels=max_pixels,
            ),
            dataset_name="toy_pointing",
        )
    ],
)

val_dataset = dict(
    type=ConcatDataset,
    datasets=[
        dict(
            type=PointingTSVDataset,
            img_tsv_file=f"{data_root}/toy_pointing_val.images.tsv",
            ann_tsv_file=f"{data_root}/toy_pointing_val.annotations.tsv",
            ann_lineidx_file=f"{data_root}/toy_pointing_val.annotations.tsv.lineidx",
            image_min_pixels=min_pixels,
            image_max_pixels=max_pixels,
            task_fn=dict(
                type=PointingTaskFn,
                task_prompts=POINTING_TASK_PROMPTS,
                max_negatives=0,  # demo: no absent phrases; a greedy `None` beats spread-out coordinate bins
                image_min_pixels=min_pixels,
                image_max_pixels=max_pixels,
            ),
            dataset_name="toy_pointing_val",
        )
    ],
)

# FlattenedDataCollatorForSupervisedDataset packs batches; --data_flatten True selects it too.
data_collator = dict(type=DataCollatorForSupervisedDataset)

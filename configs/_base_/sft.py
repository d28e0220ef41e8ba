# What configs/sft.py and configs/sft_pointing.py share. Top-level keys that name a train.py argument
# (model_name_or_path, min_pixels, max_pixels, ...) set it unless the same flag is given on the command line.
_base_ = ["./data.py"]

from dataset.collator import DataCollatorForSupervisedDataset

model_name_or_path = "work_dirs/models/rex-omni-demo"  # or "IDEA-Research/Rex-Omni"
# The demo toy images (112 px) keep their size: 4 x 4 = 16 visual tokens of 28 px; --preset varied
# images (224 px) give 8 x 8 = 64. For real data delete this line: data.py holds the released limits.
max_pixels = 64 * 28 * 28

# FlattenedDataCollatorForSupervisedDataset packs batches; --data_flatten True selects it too.
data_collator = dict(type=DataCollatorForSupervisedDataset)

# What every task config shares, inherited through mmengine's `_base_` list: a child reads these as
# `_base_.data_root` (f-strings work), and the loaders read with lazy_import=False so `type=` holds classes.
# For real data: set data_root to the folder of your TSV files (the task configs name the files in it).

data_root = "work_dirs/toy_data"  # written by python tools/make_toy_data.py
# Image area bounds in pixels (multiples of 28 x 28), for the processor and every dataset: the released
# Rex-Omni limits.
min_pixels = 16 * 28 * 28
max_pixels = 2560 * 28 * 28

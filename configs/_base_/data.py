# Shared by every task config through mmengine's `_base_` list, read with lazy_import=False (`type=` holds
# the imported classes; a child uses `_base_.data_root`, f-strings too). `read_base()` would need lazy import.
# For real data: set data_root to the folder of your TSV files (the task configs name the files in it).

data_root = "work_dirs/toy_data"  # written by python tools/make_toy_data.py
# Image area bounds in pixels (multiples of 28 x 28), for the processor and every dataset: the released
# Rex-Omni limits.
min_pixels = 16 * 28 * 28
max_pixels = 2560 * 28 * 28

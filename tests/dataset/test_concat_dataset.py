"""Tests of dataset/concat_dataset.py."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import ConcatDataset as TorchConcatDataset

from dataset import ConcatDataset, GroundingTSVDataset, PointingTSVDataset
from dataset.registry import BUILDER


def test_builds_nested_configs_and_injects_without_mutating(
    sft_toy_data: dict[str, Any], processor: Any, sft_dataset_cfg: Callable[..., Any]
) -> None:
    grounding = sft_dataset_cfg(sft_toy_data["toy_grounding_train"])
    pointing = sft_dataset_cfg(sft_toy_data["toy_pointing_val"], task="pointing")
    datasets = [grounding, [pointing, [sft_dataset_cfg(sft_toy_data["toy_grounding_val"])]]]
    original = copy.deepcopy(datasets)
    concat = BUILDER.build(dict(type="ConcatDataset", datasets=datasets, processor=processor, seed=5))
    assert isinstance(concat, TorchConcatDataset)
    assert [type(d) for d in concat.datasets] == [
        GroundingTSVDataset,
        PointingTSVDataset,
        GroundingTSVDataset,
    ]
    assert len(concat) == 24 + 4 + 4
    assert all(d.seed == 5 and d.image_processor is processor.image_processor for d in concat.datasets)
    assert datasets == original  # configs are deep-copied before injection
    assert concat[24 + 4]["input_ids"].numel() > 0  # an index in the third child
    concat.set_epoch(3)
    assert all(d.epoch == 3 for d in concat.datasets)
    assert concat.skip_summary() == {"toy_grounding": {}, "toy_pointing": {}, "toy_grounding#2": {}}


def test_per_dataset_pixel_limits_in_one_concat(
    sft_toy_data: dict[str, Any], processor: Any, sft_dataset_cfg: Callable[..., Any]
) -> None:
    paths = sft_toy_data["toy_grounding_val"]
    small = sft_dataset_cfg(paths, image_min_pixels=4 * 28 * 28, image_max_pixels=16 * 28 * 28)
    large = sft_dataset_cfg(paths, image_min_pixels=256 * 28 * 28, image_max_pixels=1024 * 28 * 28)
    before = dict(processor.image_processor.size)
    concat = ConcatDataset([small, large], processor=processor)
    grid_small = concat[0]["image_grid_thw"]
    grid_large = concat[len(concat.datasets[0])]["image_grid_thw"]  # first sample of the second child
    # 224x168 px: scaled into [4, 16] * 28^2 -> 112x84 (8x6 patches); into [256, 1024] * 28^2 -> up.
    assert grid_small.tolist() == [[1, 6, 8]]
    assert int(grid_large.prod()) >= 256 * 4
    for ds, (lo, hi) in zip(concat.datasets, [(4, 16), (256, 1024)]):
        sample = ds[1]
        tokens = int(sample["image_grid_thw"].prod()) // 4
        assert lo <= tokens <= hi
        assert tokens == int((sample["input_ids"] == ds.chat.image_token_id).sum())
    assert dict(processor.image_processor.size) == before


CONFIG_FILE = """
from dataset import ConcatDataset, DataCollatorForSupervisedDataset, GroundingTSVDataset
from dataset.task_fns import GroundingTaskFn
from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY

min_pixels = 16 * 28 * 28
max_pixels = 256 * 28 * 28
grounding = dict(
    type=GroundingTSVDataset,
    img_tsv_file="{image_tsv}",
    ann_tsv_file="{ann_tsv}",
    ann_lineidx_file="{lineidx}",
    image_min_pixels=min_pixels,
    image_max_pixels=max_pixels,
    task_fn=dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY,
                 image_min_pixels=min_pixels, image_max_pixels=max_pixels),
    dataset_name="rexomni_grounding_data",
    max_num_samples=3,
)
train_dataset = dict(type=ConcatDataset, datasets=[grounding, [grounding]])
data_collator = dict(type=DataCollatorForSupervisedDataset)
"""


def test_builds_from_an_mmengine_lazy_import_config(
    sft_toy_data: dict[str, Any], processor: Any, tmp_path: Path
) -> None:
    from mmengine.config import Config

    paths = sft_toy_data["toy_grounding_val"]
    config_file = tmp_path / "sft.py"
    config_file.write_text(CONFIG_FILE.format(**paths._asdict()))
    cfg = Config.fromfile(str(config_file))
    train = BUILDER.build(
        cfg.train_dataset, default_args=dict(processor=processor, tokenizer=processor.tokenizer, seed=0)
    )
    collator = BUILDER.build(cfg.data_collator, default_args=dict(tokenizer=processor.tokenizer))
    assert len(train) == 6 and [d.name for d in train.datasets] == ["rexomni_grounding_data"] * 2
    batch = collator([train[0], train[4]])
    assert batch["input_ids"].shape[0] == 2 and batch["position_ids"].shape[:2] == (3, 2)

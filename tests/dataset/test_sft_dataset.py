"""Tests of dataset/sft_dataset.py (and dataset/chat.py, dataset/skip_stats.py through it)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from dataset.chat import IGNORE_INDEX
from dataset.sft_dataset import GroundingTSVDataset, PointingTSVDataset, select_indices
from dataset.skip_stats import SkipSample
from dataset.tsv import TsvPaths, TsvReader, TsvWriter, encode_image


@pytest.fixture(scope="module")
def grounding(
    sft_toy_data: dict[str, Any], processor: Any, make_sft_dataset: Callable[..., Any]
) -> GroundingTSVDataset:
    return make_sft_dataset(sft_toy_data["toy_grounding_train"], processor)


def _answer_start(labels: torch.Tensor) -> int:
    supervised = (labels != IGNORE_INDEX).nonzero().flatten()
    assert supervised.numel() > 0
    start = int(supervised[0])
    assert torch.equal(supervised, torch.arange(start, labels.numel())), "supervised span must be one suffix"
    return start


def test_label_mask_supervises_only_answer_and_end_of_turn(
    grounding: GroundingTSVDataset, processor: Any
) -> None:
    tok = processor.tokenizer
    sample = grounding[0]
    image, annotation = grounding.read(0)
    task = grounding.make_task(annotation, image.size, grounding.sample_rng(0))
    ids, labels = sample["input_ids"], sample["labels"]
    start = _answer_start(labels)
    assert torch.equal(labels[start:], ids[start:])  # token by token: label == input id
    assert (labels[:start] == IGNORE_INDEX).all()
    assert tok.decode(ids[start:]) == task.answer + "<|im_end|>\n"
    num_pads = int((ids == tok.convert_tokens_to_ids("<|image_pad|>")).sum())
    expected_prompt = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>"
        + "<|image_pad|>" * num_pads
        + "<|vision_end|>\n"
        + task.question
        + "<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tok.decode(ids[:start]) == expected_prompt
    # Piece-wise tokenisation must equal tokenising the whole conversation at once.
    whole = tok(expected_prompt + task.answer + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
    assert ids.tolist() == list(whole)


def test_image_pad_count_matches_processor_grid(grounding: GroundingTSVDataset, processor: Any) -> None:
    sample = grounding[1]
    grid = sample["image_grid_thw"]
    merge = processor.image_processor.merge_size
    assert grid.shape == (1, 3)
    num_pads = int((sample["input_ids"] == grounding.chat.image_token_id).sum())
    assert num_pads == int(grid.prod()) // merge**2
    assert sample["pixel_values"].shape == (int(grid.prod()), 1176)
    image, _ = grounding.read(1)
    reference = processor.image_processor(images=image, return_tensors="pt")  # same limits as the processor's
    assert torch.equal(reference["image_grid_thw"], grid)
    assert torch.allclose(reference["pixel_values"], sample["pixel_values"])
    assert sample["position_ids"].shape == (3, sample["input_ids"].numel())


def test_pointing_dataset_emits_points(
    sft_toy_data: dict[str, Any], processor: Any, make_sft_dataset: Callable[..., Any]
) -> None:
    ds = make_sft_dataset(sft_toy_data["toy_pointing_train"], processor, task="pointing")
    assert isinstance(ds, PointingTSVDataset)
    sample = ds[0]
    answer = processor.tokenizer.decode(sample["input_ids"][_answer_start(sample["labels"]) :])
    assert "<|box_start|><" in answer and answer.endswith("<|im_end|>\n")


def test_samples_deterministic_per_seed_index_and_vary_with_epoch(
    sft_toy_data: dict[str, Any], processor: Any, make_sft_dataset: Callable[..., Any]
) -> None:
    a = make_sft_dataset(sft_toy_data["toy_grounding_train"], processor, seed=7)
    b = make_sft_dataset(sft_toy_data["toy_grounding_train"], processor, seed=7)
    for i in (0, 5, 11):
        x, y = a[i], b[i]
        assert all(torch.equal(x[k], y[k]) for k in x)
    first = [a[i]["input_ids"] for i in range(6)]
    a.set_epoch(1)
    second = [a[i]["input_ids"] for i in range(6)]
    assert any(not torch.equal(p, q) for p, q in zip(first, second))
    a.set_epoch(0)
    assert all(torch.equal(p, a[i]["input_ids"]) for i, p in enumerate(first))


def test_max_num_samples_subset_same_on_every_rank(
    sft_toy_data: dict[str, Any], processor: Any, make_sft_dataset: Callable[..., Any]
) -> None:
    ranks = [
        make_sft_dataset(sft_toy_data["toy_grounding_train"], processor, max_num_samples=10, seed=3)
        for _ in range(2)
    ]
    assert len(ranks[0]) == 10
    assert np.array_equal(ranks[0].lines, ranks[1].lines)
    assert not np.array_equal(ranks[0].lines, np.arange(10))  # a random subset, not the first lines


def test_select_indices_ratio_range_then_subset() -> None:
    assert select_indices(10, (0.2, 0.5), None, 0).tolist() == [2, 3, 4]
    subset = select_indices(100, (0.5, 1.0), 5, seed=1)
    assert len(subset) == 5 and subset.min() >= 50 and np.all(np.diff(subset) > 0)
    assert np.array_equal(subset, select_indices(100, (0.5, 1.0), 5, seed=1))
    assert select_indices(4, (0, 1), 10, 0).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="ratio_range"):
        select_indices(10, (0.6, 0.5), None, 0)


def test_too_long_sample_is_skipped_not_truncated(grounding: GroundingTSVDataset) -> None:
    image, annotation = grounding.read(0)
    task = grounding.make_task(annotation, image.size, grounding.sample_rng(0))
    grounding.max_length, original = 10, grounding.max_length
    try:
        with pytest.raises(SkipSample, match="too_long"):
            grounding.encode_text(task, image.size)
    finally:
        grounding.max_length = original


def _write_corrupt_copy(source: TsvPaths, out: Path, bad: set[int], count: int) -> TsvPaths:
    """Copy ``count`` samples of ``source``; sample i in ``bad`` gets one kind of defect (cycled)."""
    paths = TsvPaths(
        str(out / "c.images.tsv"), str(out / "c.annotations.tsv"), str(out / "c.annotations.tsv.lineidx")
    )
    reader = TsvReader(*source)
    defects = ["garbage", "tiny", "empty", "bad_json"]
    with TsvWriter(*paths) as writer:
        for i in range(count):
            image, ann = reader.read(i % len(reader))
            image_bytes = encode_image(image)
            if i in bad:
                defect = defects[sorted(bad).index(i) % len(defects)]
                if defect == "garbage":
                    image_bytes = b"this is not an image"
                elif defect == "tiny":
                    image_bytes = encode_image(Image.new("RGB", (20, 40)))
                elif defect == "empty":
                    ann = {"boxes": []}
                else:
                    ann = {"boxes": [{"bbox": [1, 2, 3], "phrase": "x"}]}
            writer.add(image_bytes, json.loads(json.dumps(ann)))
    return paths


def test_corrupt_samples_are_skipped_and_counted(
    sft_toy_data: dict[str, Any],
    processor: Any,
    make_sft_dataset: Callable[..., Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = {1, 4, 5, 8, 12, 13, 17, 19, 23}  # 9 of 30
    paths = _write_corrupt_copy(sft_toy_data["toy_grounding_train"], tmp_path, bad, count=30)
    ds = make_sft_dataset(paths, processor, log_skips_every=4)
    with caplog.at_level(logging.WARNING, logger="dataset.skip_stats"):
        samples = [ds[i] for i in range(len(ds))]
    assert len(samples) == 30 and all(s["input_ids"].numel() > 0 for s in samples)
    summary = ds.skip_summary()
    assert set(summary) == {"unreadable", "too_small", "empty", "bad_annotation"}
    # Index i costs one skip per bad sample in the run of bad samples starting at i.
    expected = sum(next(k for k in range(31) if i + k not in bad) for i in range(30))
    assert sum(summary.values()) == expected == 11
    assert "samples skipped so far" in caplog.text
    ds.set_epoch(1)  # logs the epoch summary and resets the counts
    assert ds.skip_summary() == {}
    assert f"epoch 0: 11 samples skipped: {summary}" in caplog.text


def test_skips_in_dataloader_workers_are_summarised_once_per_epoch_and_at_the_end(
    sft_toy_data: dict[str, Any],
    processor: Any,
    make_sft_dataset: Callable[..., Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One bad annotation (sample 2) among 6; two epochs read in a DataLoader worker that is recreated
    # per epoch (the trainer's default), as train.py's epoch callback drives the dataset.
    from torch.utils.data import DataLoader

    paths = _write_corrupt_copy(sft_toy_data["toy_grounding_train"], tmp_path, {2}, count=6)
    ds = make_sft_dataset(paths, processor, log_skips_every=0)
    with caplog.at_level(logging.WARNING, logger="dataset.skip_stats"):
        for epoch in (0, 1):
            ds.set_epoch(epoch)
            batches = list(DataLoader(ds, batch_size=None, num_workers=1))
            assert len(batches) == 6
            assert ds.skip_summary() == {"unreadable": 1}  # counted in the worker, seen here
        ds.log_skip_totals()
    lines = [r.getMessage() for r in caplog.records]
    assert [m for m in lines if "skipping sample" in m] == []  # logged inside the worker, not repeated here
    assert sum("epoch 0: 1 samples skipped: {'unreadable': 1}" in m for m in lines) == 1
    assert sum("epoch 1: 1 samples skipped: {'unreadable': 1}" in m for m in lines) == 1
    assert sum("2 samples skipped in this run: {'unreadable': 2}" in m for m in lines) == 1


def test_all_corrupt_fails_loudly_without_recursion(
    sft_toy_data: dict[str, Any], processor: Any, make_sft_dataset: Callable[..., Any], tmp_path: Path
) -> None:
    paths = _write_corrupt_copy(sft_toy_data["toy_grounding_train"], tmp_path, set(range(30)), count=30)
    ds = make_sft_dataset(paths, processor, max_retries=20)
    with pytest.raises(RuntimeError, match=r"20 consecutive samples unusable") as info:
        ds[3]
    message = str(info.value)
    assert "c.annotations.tsv" in message and "dataset indices [3, 4," in message
    assert not isinstance(info.value.__context__, RecursionError)


def test_processor_is_never_mutated(
    sft_toy_data: dict[str, Any], processor: Any, make_sft_dataset: Callable[..., Any]
) -> None:
    before = dict(processor.image_processor.size)
    ds = make_sft_dataset(
        sft_toy_data["toy_grounding_train"],
        processor,
        image_min_pixels=4 * 28 * 28,
        image_max_pixels=16 * 28 * 28,
    )
    # 224x168 px holds 48 * 28^2 pixels: scaled by 1/sqrt(3) and floored to 112x84 -> 8x6 patches.
    assert ds[0]["image_grid_thw"].tolist() == [[1, 6, 8]]
    assert dict(processor.image_processor.size) == before


def test_missing_processor_and_bad_arguments_raise(
    sft_toy_data: dict[str, Any], processor: Any, make_sft_dataset: Callable[..., Any]
) -> None:
    with pytest.raises(ValueError, match="processor"):
        make_sft_dataset(sft_toy_data["toy_grounding_train"], None)
    with pytest.raises(ValueError, match="ori_box_format"):
        make_sft_dataset(sft_toy_data["toy_grounding_train"], processor, ori_box_format="cxcywh")
    with pytest.raises(ValueError, match="task_fn"):
        make_sft_dataset(sft_toy_data["toy_grounding_train"], processor, task_fn=None)

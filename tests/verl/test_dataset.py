"""TSVRLHFDataset: prompt, ground truth in the reward schema, RNG, filtering; collate; resumable loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoProcessor

from dataset.task_fns import GroundingTaskFn, PointingTaskFn
from dataset.task_fns.task_prompts.grounding_task import GROUNDING_SINGLE_REGION_STAGE_XYXY
from dataset.task_fns.task_prompts.pointing_task import POINTING_TASK_PROMPTS
from dataset.tsv import TsvPaths, TsvWriter
from rewards import parse_ground_truth
from verl.trainer.data_loader import ResumableBatchSampler, build_datasets, build_loader
from verl.utils.dataset import RLHFCollator, TSVRLHFDataset, resize_image


@pytest.fixture(scope="module")
def processor(tiny_model: Path):
    return AutoProcessor.from_pretrained(tiny_model)


def _dataset(processor, toy_data: Path, stem: str, **kwargs) -> TSVRLHFDataset:
    task = (dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY) if "grounding" in stem
            else dict(type=PointingTaskFn, task_prompts=POINTING_TASK_PROMPTS))
    base = toy_data / stem
    kwargs.setdefault("reward_name", "box_iou" if "grounding" in stem else "point_in_box")
    return TSVRLHFDataset(*TsvPaths.from_prefix(base), processor=processor, task_fn=task, dataset_name=stem, **kwargs)


def test_grounding_ground_truth_matches_annotation(processor, toy_data):
    ds = _dataset(processor, toy_data, "toy_grounding_train")
    sample = ds[0]
    _, ann = ds.reader.read_annotation(0)
    gt = sample["ground_truth"]
    assert gt["reward_name"] == "box_iou" and gt["dataset_name"] == "toy_grounding_train"
    assert gt["image_size"] == [112, 112]
    parse_ground_truth(gt)  # follows the reward schema
    for entry in ann["boxes"]:
        targets = gt["answer"][entry["phrase"]]
        if entry["bbox"] is None:
            assert targets == {"boxes": [], "points": [], "masks": []}
        else:
            assert [float(c) for c in entry["bbox"]] in targets["boxes"]
    for phrase in gt["answer"]:
        assert phrase in sample["prompt"]  # the prompt names the same (cleaned) phrases as the GT


def test_max_num_samples_keeps_a_seeded_subset_of_lines(processor, toy_data):
    full = _dataset(processor, toy_data, "toy_grounding_train")
    subset = _dataset(processor, toy_data, "toy_grounding_train", max_num_samples=5, seed=3)
    lines = [int(v) for v in subset.source.lines]
    assert len(full) == 16 and len(subset) == 5
    assert lines == sorted(set(lines)) and all(0 <= v < 16 for v in lines)
    assert lines == [int(v) for v in _dataset(processor, toy_data, "toy_grounding_train", max_num_samples=5,
                                              seed=3).source.lines]  # the same lines on every rank
    for index, line in enumerate(lines):  # sample i is TSV line lines[i]
        _, ann = subset.reader.read_annotation(line)
        boxes = [b for t in subset[index]["ground_truth"]["answer"].values() for b in t["boxes"]]
        assert sorted(boxes) == sorted([float(c) for c in e["bbox"]] for e in ann["boxes"] if e["bbox"] is not None)


def test_pointing_ground_truth_has_points_boxes_and_masks(processor, toy_data):
    ds = _dataset(processor, toy_data, "toy_pointing_train", reward_name="point_in_mask")
    gt = ds[1]["ground_truth"]
    parsed = parse_ground_truth(gt)
    assert gt["reward_name"] == "point_in_mask"
    positives = [t for t in parsed.answer.values() if not t.is_negative]
    assert positives and all(len(t.points) == len(t.boxes) == len(t.masks) for t in positives)
    json.dumps(gt)  # plain JSON types only


def test_prompt_tokens_positions_and_raw_ids(processor, toy_data):
    ds = _dataset(processor, toy_data, "toy_grounding_train")
    sample = ds[2]
    ids = sample["input_ids"]
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    grid = sample["multi_modal_inputs"]["image_grid_thw"]
    assert int((ids == image_pad).sum()) == int(grid.prod()) // 4
    assert sample["position_ids"].shape == (3, len(ids))
    assert sample["raw_prompt_ids"].count(image_pad) == 1  # unexpanded, for vLLM
    text = processor.tokenizer.decode(ids)
    assert text.endswith("<|im_start|>assistant\n") and "<|vision_end|>\n" + sample["prompt"] in text


def test_prompt_tokens_equal_across_sft_grpo_and_evaluation(processor, toy_data):
    """SFT's prompt tokens (labels masked), GRPO's and evaluation's are one sequence for one sample."""
    from dataset.chat import IGNORE_INDEX, render_prompt
    from dataset.sft_dataset import GroundingTSVDataset

    base = toy_data / "toy_grounding_train"
    paths = TsvPaths.from_prefix(base)
    pixels = 16 * 28 * 28  # the 112 px toy images keep their size in both stages
    sft = GroundingTSVDataset(*paths, image_min_pixels=pixels, image_max_pixels=4 * pixels,
                              task_fn=dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY),
                              processor=processor)
    grpo = _dataset(processor, toy_data, "toy_grounding_train", min_pixels=pixels, max_pixels=4 * pixels)
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for index in range(3):
        sample = sft[index]
        image, annotation = sft.read(index)
        question = sft.make_task(annotation, image.size, sft.sample_rng(index)).question
        sft_prompt = sample["input_ids"][sample["labels"] == IGNORE_INDEX].tolist()
        grpo_prompt = grpo.encode_prompt(resize_image(image, pixels, 4 * pixels), question)
        evaluation = processor(text=[render_prompt(processor, question)], images=[image], return_tensors="pt")
        assert grpo_prompt["input_ids"].tolist() == sft_prompt
        assert evaluation["input_ids"][0].tolist() == sft_prompt
        assert torch.equal(grpo_prompt["multi_modal_inputs"]["pixel_values"], sample["pixel_values"])
        pads = sft_prompt.count(image_pad)
        # The original's training format, written out: "<image>\n{question}" after the default system turn.
        assert processor.tokenizer.decode(sft_prompt) == (
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>"
            + "<|image_pad|>" * pads + "<|vision_end|>\n" + question + "<|im_end|>\n<|im_start|>assistant\n")


def test_format_prompt_and_rng(processor, toy_data, tmp_path):
    template = tmp_path / "fmt.jinja"
    template.write_text("{{ content | trim }} Answer briefly.")
    ds = _dataset(processor, toy_data, "toy_grounding_train", format_prompt=str(template))
    assert ds[3]["prompt"].endswith(" Answer briefly.")
    again = _dataset(processor, toy_data, "toy_grounding_train", format_prompt=str(template))
    assert ds[3]["prompt"] == again[3]["prompt"]  # seeded by (seed, epoch, index)
    prompts = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        prompts.add(ds[3]["prompt"])
    assert len(prompts) > 1  # a new epoch draws new templates / orders


def test_overlong_prompts_are_skipped_or_raise(processor, toy_data):
    ds = _dataset(processor, toy_data, "toy_grounding_train", max_prompt_length=8)
    with pytest.raises(RuntimeError, match="consecutive samples unusable"):
        ds[0]
    assert ds.skips.counts["too_long"] == len(ds)
    strict = _dataset(processor, toy_data, "toy_grounding_train", max_prompt_length=8, filter_overlong_prompts=False)
    with pytest.raises(ValueError, match="max_prompt_length"):
        strict[0]


def _bad_then_good_tsv(tmp_path: Path) -> list[str]:
    """A TSV triple of two white images: sample 0 with a malformed box (2 numbers), sample 1 a cat."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (112, 112), "white").save(buf, format="PNG")
    paths = [str(tmp_path / n) for n in ("i.tsv", "a.tsv", "a.lineidx")]
    with TsvWriter(*paths) as writer:
        writer.add(buf.getvalue(), {"boxes": [{"bbox": [1, 2], "phrase": "bad"}]})
        writer.add(buf.getvalue(), {"boxes": [{"bbox": [10, 10, 50, 50], "phrase": "cat"}]})
    return paths


def test_bad_sample_is_skipped_and_counted(processor, tmp_path):
    paths = _bad_then_good_tsv(tmp_path)
    ds = TSVRLHFDataset(*paths, processor=processor,
                        task_fn=dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY))
    sample = ds[0]
    assert sample["num_skipped"] == 1 and sample["index"] == 1 and "cat" in sample["ground_truth"]["answer"]


def test_skips_are_summarised_per_epoch_and_at_the_end(processor, tmp_path, caplog):
    import logging

    paths = _bad_then_good_tsv(tmp_path)
    ds = TSVRLHFDataset(*paths, processor=processor, dataset_name="toy",
                        task_fn=dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY))
    with caplog.at_level(logging.WARNING, logger="dataset.skip_stats"):
        for epoch in (0, 1):
            ds.set_epoch(epoch)
            ds[0]
        ds.log_skip_totals()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("skipping sample 0" in m for m in lines) == 1  # explained once, not every epoch
    assert [m for m in lines if "skipping sample" not in m] == [
        "toy: epoch 0: 1 samples skipped: {'bad_annotation': 1}", "toy: epoch 1: 1 samples skipped: {'bad_annotation': 1}",
        "toy: 2 samples skipped in this run: {'bad_annotation': 2}"]


def test_resize_image_bounds():
    from PIL import Image

    big = resize_image(Image.new("RGB", (1000, 800)), min_pixels=100, max_pixels=200_000)
    assert big.size[0] * big.size[1] <= 200_000
    small = resize_image(Image.new("L", (10, 10)), min_pixels=10_000, max_pixels=None)
    assert small.size[0] * small.size[1] >= 10_000 and small.mode == "RGB"


def test_collator_left_pads():
    samples = [{"input_ids": torch.tensor([5, 6, 7]), "attention_mask": torch.ones(3, dtype=torch.long),
                "position_ids": torch.arange(3).expand(3, 3), "gt": {"a": 1}},
               {"input_ids": torch.tensor([8]), "attention_mask": torch.ones(1, dtype=torch.long),
                "position_ids": torch.zeros(3, 1, dtype=torch.long), "gt": {"a": 2}}]
    out = RLHFCollator(pad_token_id=0)(samples)
    assert out["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert out["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert out["position_ids"].shape == (2, 3, 3) and out["gt"] == [{"a": 1}, {"a": 2}]


def test_sampler_resumes_exactly():
    sampler = ResumableBatchSampler(10, 3, shuffle=True, seed=1)
    first = list(sampler)
    assert len(first) == 3 and len({i for b in first for i in b}) == 9
    sampler.load_state_dict({"epoch": 0, "position": 2})
    assert list(sampler) == first[2:]
    sampler.load_state_dict({"epoch": 1, "position": 0})
    assert list(sampler) != first


def test_build_datasets_injects_run_settings(make_config, processor):
    cfg = make_config(1, "data.max_prompt_length=512")
    train, val = build_datasets(cfg.data, processor.tokenizer, processor)
    assert len(train) == 32 and val is not None and len(val) == 8
    assert all(ds.max_prompt_length == 512 for ds in train.datasets)
    loader = build_loader(train, cfg.data, processor.tokenizer.pad_token_id)
    epoch, batch = loader.next_batch()
    assert epoch == 0 and batch["input_ids"].shape[0] == cfg.data.rollout_batch_size
    assert loader.state_dict() == {"epoch": 0, "position": 1}


def test_the_original_import_path_gives_the_dataset_module_class():
    import dataset.rlhf_dataset as defined
    import verl.utils.dataset as reexported

    assert reexported.TSVRLHFDataset is defined.TSVRLHFDataset
    assert reexported.RLHFCollator is defined.RLHFCollator

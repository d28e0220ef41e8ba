"""The one sample path: SFT, GRPO and evaluation ask the same question of the same sample."""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Any

import pytest

from dataset.sample_source import SampleSource, reward_ground_truth
from dataset.skip_stats import SkipSample
from dataset.task_fns import EmptySampleError, GroundingTaskFn, TaskSample
from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY
from dataset.tsv import TsvReader


def _task_fn() -> GroundingTaskFn:
    return GroundingTaskFn(task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY)


def test_rng_is_a_pure_function_of_name_seed_epoch_and_index(sft_toy_data: dict[str, Any]) -> None:
    paths = sft_toy_data["toy_grounding_train"]
    a = SampleSource(TsvReader(*paths), _task_fn(), "toy", seed=7)
    b = SampleSource(TsvReader(*paths), _task_fn(), "toy", seed=7)
    draws = [a.rng(3, epoch=1).random() for _ in range(2)]
    assert draws[0] == draws[1] == b.rng(3, epoch=1).random()
    assert a.rng(3, epoch=1).random() != a.rng(3, epoch=2).random()
    assert a.rng(3).random() != a.rng(4).random()
    assert a.rng(3).random() != SampleSource(TsvReader(*paths), _task_fn(), "other", seed=7).rng(3).random()


def test_reward_ground_truth_schema() -> None:
    task = TaskSample(question="q", answer="a", ground_truth={"dog": {"boxes": [[1, 2, 3, 4]], "points": [], "masks": []}})
    assert reward_ground_truth(task, "box_iou", "pets", (640, 480)) == {
        "reward_name": "box_iou",
        "dataset_name": "pets",
        "image_size": [640, 480],
        "answer": {"dog": {"boxes": [[1, 2, 3, 4]], "points": [], "masks": []}},
    }


def test_first_usable_skips_a_bounded_number_of_samples(sft_toy_data: dict[str, Any]) -> None:
    paths = sft_toy_data["toy_grounding_train"]
    bad = {2, 3}

    def build(position: int) -> int:
        if position in bad:
            raise SkipSample("empty", f"position {position}")
        return position * 10

    source = SampleSource(TsvReader(*paths), _task_fn(), "toy", max_retries=3)
    assert source.first_usable(2, build) == (40, 2)
    assert source.skip_stats.summary() == {"empty": 2}
    bad.update({4})
    with pytest.raises(RuntimeError, match=r"toy .*3 consecutive samples unusable \(dataset indices \[2, 3, 4\]"):
        source.first_usable(2, build)


def test_empty_task_is_a_counted_skip(sft_toy_data: dict[str, Any]) -> None:
    def refuse(objects: Any, width: int, height: int, rng: random.Random) -> TaskSample:
        raise EmptySampleError("nothing usable")

    source = SampleSource(TsvReader(*sft_toy_data["toy_grounding_train"]), refuse, "toy", max_retries=2)
    with pytest.raises(SkipSample, match="empty"):
        source.load(0)


def test_sft_grpo_and_evaluation_ask_the_same_question(sft_toy_data: dict[str, Any], processor: Any,
                                                      make_sft_dataset: Any, tmp_path: Path) -> None:
    from evaluation.evaluate import iter_samples
    from verl.utils.dataset import TSVRLHFDataset

    paths = sft_toy_data["toy_grounding_val"]
    prefix = paths.ann_tsv[: -len(".annotations.tsv")]
    name = Path(prefix).name
    sft = make_sft_dataset(paths, processor, dataset_name=name, seed=0)
    grpo = TSVRLHFDataset(img_tsv_file=paths.image_tsv, ann_tsv_file=paths.ann_tsv, ann_lineidx_file=paths.lineidx,
                          processor=processor, task_fn=_task_fn(), dataset_name=name, seed=0)
    evaluated = list(iter_samples(prefix, "grounding", seed=0, task_fn=_task_fn()))
    assert len(evaluated) == len(sft) == len(grpo)
    for index, sample in enumerate(evaluated):
        image, annotation = sft.read(index)
        sft_task = sft.make_task(annotation, image.size, sft.sample_rng(index))
        grpo_sample = grpo.load(index)
        assert sft_task.question == grpo_sample["prompt"] == sample.question
        assert grpo_sample["ground_truth"]["answer"] == sample.ground_truth["answer"] == sft_task.ground_truth


def test_old_grpo_argument_names_warn_and_still_load(sft_toy_data: dict[str, Any], processor: Any) -> None:
    from verl.utils.dataset import TSVRLHFDataset

    paths = sft_toy_data["toy_grounding_val"]
    with pytest.warns(FutureWarning, match="'anno_idx_file' is deprecated, use 'ann_lineidx_file'"):
        old = TSVRLHFDataset(image_tsv_file=paths.image_tsv, anno_tsv_file=paths.ann_tsv, anno_idx_file=paths.lineidx,
                             min_pixels=16 * 28 * 28, processor=processor, task_fn=_task_fn(), dataset_name="v")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = TSVRLHFDataset(img_tsv_file=paths.image_tsv, ann_tsv_file=paths.ann_tsv, ann_lineidx_file=paths.lineidx,
                             image_min_pixels=16 * 28 * 28, processor=processor, task_fn=_task_fn(), dataset_name="v")
    assert old.min_pixels == new.min_pixels == 16 * 28 * 28
    assert old.load(1)["prompt"] == new.load(1)["prompt"]
    with pytest.raises(TypeError, match="both 'min_pixels' and 'image_min_pixels'"):
        TSVRLHFDataset(img_tsv_file=paths.image_tsv, ann_tsv_file=paths.ann_tsv, ann_lineidx_file=paths.lineidx,
                       image_min_pixels=1, min_pixels=2, processor=processor, task_fn=_task_fn())

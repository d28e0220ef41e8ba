"""Task functions with the original call shape, fn(example, ori_width, ori_height)."""

from __future__ import annotations

import random

import pytest

from dataset.annotations import ObjectAnnotation
from dataset.sample_source import SampleSource
from dataset.task_fns import EmptySampleError, GroundingTaskFn
from dataset.task_fns.original_style import OriginalStyleTaskFn, is_original_style


class OriginalGroundingStyle:
    """A user task function written for the original code: reads boxes/labels, writes conversations."""

    def __call__(self, example, ori_width, ori_height):
        ann = example["annotations"]
        groups: dict[str, list[str]] = {}
        for (x0, y0, x1, y1), label in zip(ann["boxes"], ann["labels"]):
            bins = [int(min(max(c / L, 0), 1) * 999) for c, L in
                    ((x0, ori_width), (y0, ori_height), (x1, ori_width), (y1, ori_height))]
            groups.setdefault(label.replace("_", " "), []).append("".join(f"<{b}>" for b in bins))
        answer = ", ".join(f"<|object_ref_start|>{k}<|object_ref_end|><|box_start|>{','.join(v)}<|box_end|>"
                           for k, v in groups.items())
        example["conversations"] = [{"from": "human", "value": "<image>\nDetect " + ", ".join(groups) + "."},
                                    {"from": "gpt", "value": answer}]
        return example


def test_original_shape_is_detected_and_current_shape_is_not() -> None:
    assert is_original_style(OriginalGroundingStyle())
    assert is_original_style(lambda example, w, h: example)
    assert not is_original_style(GroundingTaskFn(["[OBJ]"]))
    assert not is_original_style(lambda objects, w, h, rng: None)
    assert not is_original_style(lambda *args: None)


class _NoLines:
    ann_tsv = "none"

    def __len__(self) -> int:
        return 0


def test_original_style_function_runs_through_the_sample_path() -> None:
    fn = SampleSource(_NoLines(), OriginalGroundingStyle(), "x").task_fn
    assert isinstance(fn, OriginalStyleTaskFn)
    objects = [ObjectAnnotation("cat_toy", box=(10, 20, 100, 200)), ObjectAnnotation("dog"),
               ObjectAnnotation("cat_toy", box=(0, 0, 640, 480))]
    sample = fn(objects, 640, 480, random.Random(0))
    assert sample.question == "Detect cat toy."
    assert sample.answer == ("<|object_ref_start|>cat toy<|object_ref_end|><|box_start|>"
                             "<15><41><156><416>,<0><0><999><999><|box_end|>")
    assert sample.ground_truth["cat toy"]["boxes"] == [[10.0, 20.0, 100.0, 200.0], [0.0, 0.0, 640.0, 480.0]]
    assert sample.num_dropped == 1  # the null entry: the original had no negatives


def test_original_style_without_boxes_is_an_empty_sample() -> None:
    with pytest.raises(EmptySampleError):
        OriginalStyleTaskFn(OriginalGroundingStyle())([ObjectAnnotation("dog")], 64, 64, random.Random(0))

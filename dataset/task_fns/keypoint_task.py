"""Keypoints: every instance's box and joints as the JSON object the released model writes."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataset.grammar import KeypointInstance, compose_keypoint_answer, quantize_box, quantize_point
from dataset.task_fns.base import (
    CATEGORY_SEPARATOR,
    OBJ_PLACEHOLDER,
    EmptySampleError,
    TaskSample,
    check_prompts,
)
from dataset.task_fns.task_prompts.other_tasks import KEYPOINT_NAMES, KEYPOINT_WRAPPER

if TYPE_CHECKING:
    from dataset.annotations import ObjectAnnotation

KEYPOINTS_PLACEHOLDER = "[KEYPOINTS]"


def joint_names(obj: ObjectAnnotation) -> tuple[str, ...]:
    """An instance's joints in prompt order: the sample's ``keypoint_names``, else its type's list, else
    the order of its ``keypoints`` object."""
    if obj.keypoint_names:
        return obj.keypoint_names
    if obj.keypoint_type in KEYPOINT_NAMES:
        return KEYPOINT_NAMES[obj.keypoint_type]  # type: ignore[index]
    return tuple(obj.keypoints or ())


class KeypointTaskFn:
    """Every instance (with a box inside the image) of the sample, sorted by x0, keyed
    ``{phrase}{n}``; joints with visibility 0 (and 1 when ``occluded_as_unvisible``) or missing
    are written ``"unvisible"``, the others as their two bins.

    Instances whose joint list differs from the first instance's are dropped (one prompt names one
    list). A sample with no positive instance raises ``EmptySampleError``: what the released model
    answers for an image without the category is unknown, so negatives are not trained on.

    Ground truth: ``{phrase: {"boxes": [...], "keypoints": [{name: [x, y, v]}]}}`` (pixels) and
    ``extras["keypoint_names"]``.
    """

    def __init__(self, task_prompts: Sequence[str] = (KEYPOINT_WRAPPER,), occluded_as_unvisible: bool = False,
                 image_min_pixels: int | None = None, image_max_pixels: int | None = None) -> None:
        self.task_prompts = check_prompts(task_prompts)
        missing = [t for t in self.task_prompts if KEYPOINTS_PLACEHOLDER not in t]
        if missing:
            raise ValueError(f"task_prompts entries without {KEYPOINTS_PLACEHOLDER}: {missing!r}")
        self.occluded_as_unvisible = bool(occluded_as_unvisible)

    def _joint(self, xyv: tuple[float, float, int] | None, width: int, height: int) -> tuple[int, int] | None:
        if xyv is None or xyv[2] == 0 or (xyv[2] == 1 and self.occluded_as_unvisible):
            return None
        return quantize_point(xyv[:2], width, height)

    def __call__(self, objects: Sequence[ObjectAnnotation], width: int, height: int,
                 rng: random.Random) -> TaskSample:
        people = [o for o in objects if o.keypoints is not None and o.box is not None and o.phrase.strip()
                  and min(o.box[2], width) > max(o.box[0], 0) and min(o.box[3], height) > max(o.box[1], 0)]
        if not people:
            raise EmptySampleError(f"no instance with a box and keypoints ({len(objects)} objects)")
        names = joint_names(people[0])
        people = [o for o in people if joint_names(o) == names]
        instances = []
        for obj in people:
            bbox = quantize_box(obj.box, width, height)  # type: ignore[arg-type]
            joints = {n: self._joint(obj.keypoints.get(n), width, height) for n in names}  # type: ignore[union-attr]
            instances.append((bbox, obj, KeypointInstance(obj.phrase.strip(), bbox, joints)))
        instances.sort(key=lambda item: item[0][0])
        categories = list(dict.fromkeys(inst.category for _, _, inst in instances))
        question = (rng.choice(self.task_prompts).replace(OBJ_PLACEHOLDER, CATEGORY_SEPARATOR.join(categories))
                    .replace(KEYPOINTS_PLACEHOLDER, CATEGORY_SEPARATOR.join(names)))
        answer = compose_keypoint_answer(inst for _, _, inst in instances)
        truth: dict[str, dict[str, list]] = {}
        for _, obj, inst in instances:
            entry = truth.setdefault(inst.category, {"boxes": [], "points": [], "masks": [], "keypoints": []})
            entry["boxes"].append([float(c) for c in obj.box])  # type: ignore[union-attr]
            entry["keypoints"].append({n: list(obj.keypoints.get(n, (0.0, 0.0, 0))) for n in names})  # type: ignore[union-attr]
        return TaskSample(question, answer, truth, len(objects) - len(people), {"keypoint_names": list(names)})

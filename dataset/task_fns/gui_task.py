"""GUI grounding and pointing: one element per sample, named by its instruction written verbatim."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataset.grammar import compose_answer, quantize_box, quantize_point
from dataset.task_fns.base import OBJ_PLACEHOLDER, EmptySampleError, TaskSample, check_prompts
from dataset.task_fns.task_prompts.other_tasks import GUI_GROUNDING_WRAPPER, GUI_POINTING_WRAPPER

if TYPE_CHECKING:
    from dataset.annotations import ObjectAnnotation


def verbatim_phrase(text: str) -> str | None:
    """An instruction or a transcription as the answer writes it: stripped, never cleaned; ``None``
    when empty or holding ``<`` (no answer parser can read a phrase with ``<``)."""
    text = text.strip()
    return text if text and "<" not in text else None


class _GuiTaskFn:
    """Draw one element with a box (grounding) or a box or point (pointing); see the subclasses."""

    kind = "box"

    def __init__(self, task_prompts: Sequence[str], image_min_pixels: int | None = None,
                 image_max_pixels: int | None = None) -> None:
        self.task_prompts = check_prompts(task_prompts)

    def _usable(self, obj: ObjectAnnotation, width: int, height: int) -> bool:
        if obj.box is None:
            return False
        x0, y0, x1, y1 = obj.box
        return min(x1, width) > max(x0, 0) and min(y1, height) > max(y0, 0)

    def _bins(self, obj: ObjectAnnotation, width: int, height: int) -> tuple[int, ...]:
        return quantize_box(obj.box, width, height)  # type: ignore[arg-type]

    def __call__(self, objects: Sequence[ObjectAnnotation], width: int, height: int,
                 rng: random.Random) -> TaskSample:
        usable = [o for o in objects if not o.exemplar and not o.ignore and verbatim_phrase(o.phrase)
                  and self._usable(o, width, height)]
        if not usable:
            raise EmptySampleError(f"no GUI element with an instruction and a box ({len(objects)} objects)")
        obj = rng.choice(usable)
        phrase = verbatim_phrase(obj.phrase)
        question = rng.choice(self.task_prompts).replace(OBJ_PLACEHOLDER, phrase)  # type: ignore[arg-type]
        answer = compose_answer([(phrase, [self._bins(obj, width, height)])])  # type: ignore[list-item]
        box = [float(c) for c in obj.box]  # type: ignore[union-attr]
        point = list(obj.point) if obj.point is not None else [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
        truth = {phrase: {"boxes": [box], "points": [[float(c) for c in point]], "masks": []}}
        return TaskSample(question, answer, truth, len(objects) - len(usable))  # type: ignore[dict-item]


class GuiGroundingTaskFn(_GuiTaskFn):
    """GUI grounding: the answer is the element's box. Default prompt: the wrapper's, with its doubled
    closing quote (``GUI_GROUNDING_CORRECTED`` is the form without it)."""

    def __init__(self, task_prompts: Sequence[str] = (GUI_GROUNDING_WRAPPER,), image_min_pixels: int | None = None,
                 image_max_pixels: int | None = None) -> None:
        super().__init__(task_prompts)


class GuiPointingTaskFn(_GuiTaskFn):
    """GUI pointing: the answer is the element's ``point`` or, without one, its box centre. Default
    prompt: the wrapper's ``Point to element "[OBJ]".``"""

    def __init__(self, task_prompts: Sequence[str] = (GUI_POINTING_WRAPPER,), image_min_pixels: int | None = None,
                 image_max_pixels: int | None = None) -> None:
        super().__init__(task_prompts)

    def _bins(self, obj: ObjectAnnotation, width: int, height: int) -> tuple[int, ...]:
        if obj.point is not None:
            return quantize_point(obj.point, width, height)
        x0, y0, x1, y1 = obj.box  # type: ignore[misc]
        return quantize_point(((x0 + x1) / 2, (y0 + y1) / 2), width, height)

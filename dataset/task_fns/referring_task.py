"""Referring expressions: detection with the expression written verbatim."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataset.task_fns.grounding_task import GroundingTaskFn
from dataset.task_fns.gui_task import verbatim_phrase
from dataset.task_fns.task_prompts.other_tasks import DETECTION_WRAPPER

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dataset.annotations import ObjectAnnotation


class ReferringTaskFn(GroundingTaskFn):
    """``GroundingTaskFn`` whose phrases are kept verbatim (stripped; a phrase with ``<`` is empty and
    so dropped): category cleaning would delete the commas of ``"man in red, left"`` and cut at ``/``.
    Default prompt: the wrapper's detection prompt; ``max_negatives`` defaults to 0. Null negatives
    (``"bbox": null``) train the ``None`` answer that the ``hallucination`` reward scores."""

    def __init__(self, task_prompts: Sequence[str] = (DETECTION_WRAPPER,), image_min_pixels: int | None = None,
                 image_max_pixels: int | None = None, extra_categories: Sequence[str] | None = None,
                 max_negatives: int | None = 0) -> None:
        super().__init__(task_prompts, image_min_pixels, image_max_pixels, extra_categories, max_negatives)

    def phrase_of(self, obj: ObjectAnnotation) -> str:
        return verbatim_phrase(obj.phrase) or ""

"""Visual prompting: reference boxes of one category in the prompt, every box of that category in the answer."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataset.grammar import compose_answer, format_bins, quantize_box
from dataset.task_fns.base import EmptySampleError, TaskSample, phrase_geometry
from dataset.task_fns.categories import clean_category_name
from dataset.task_fns.grounding_task import GroundingTaskFn
from dataset.task_fns.task_prompts.other_tasks import VISUAL_PROMPT_EVALUATION, VISUAL_PROMPT_WRAPPER

if TYPE_CHECKING:
    from dataset.annotations import ObjectAnnotation

VISUAL_PROMPT_PLACEHOLDER = "[VISUAL_PROMPT]"
WRAPPER_KEY = "object_1"
PROMPT_STYLES = {"wrapper": VISUAL_PROMPT_WRAPPER, "evaluation": VISUAL_PROMPT_EVALUATION}


def visual_prompt_json(key: str, exemplar_bins: Sequence[Sequence[int]], style: str) -> str:
    """The prompt's reference-box JSON: the wrapper's ``{"object_1": ["<x0><y0><x1><y1>", ...]}`` (a
    list) or the evaluation's ``{category: "<..>, <..>"}`` (one joined string); ``json.dumps`` defaults."""
    tokens = [format_bins(b) for b in exemplar_bins]
    return json.dumps({key: tokens if style == "wrapper" else ", ".join(tokens)})


class VisualPromptTaskFn:
    """One category per sample: its exemplars (the annotation's ``visual_prompt`` boxes, or ``k`` of
    its boxes drawn with ``k`` uniform in ``1..min(N, max_exemplars)``) go in the prompt, and the answer
    is one group holding all ``N`` boxes sorted by x0, under the prompt's JSON key.

    Args:
        prompt_styles: drawn per sample; ``"wrapper"`` (key ``object_1``, the inference wrapper's
            prompt) and/or ``"evaluation"`` (key = the category, the evaluation script's prompt).
        max_exemplars: most sampled exemplars (``None``: up to all N).
        image_min_pixels, image_max_pixels: accepted for config compatibility; unused.

    Ground truth: ``{key: {"boxes": all N}}`` plus ``extras["exemplars"]`` (pixel boxes in the prompt).
    """

    def __init__(self, prompt_styles: Sequence[str] = ("wrapper",), max_exemplars: int | None = None,
                 image_min_pixels: int | None = None, image_max_pixels: int | None = None) -> None:
        if isinstance(prompt_styles, str) or not prompt_styles or set(prompt_styles) - set(PROMPT_STYLES):
            raise ValueError(f"prompt_styles must be a non-empty list of {sorted(PROMPT_STYLES)}, got {prompt_styles!r}")
        if max_exemplars is not None and (isinstance(max_exemplars, bool) or not isinstance(max_exemplars, int)
                                          or max_exemplars < 1):
            raise ValueError(f"max_exemplars must be a positive int or None, got {max_exemplars!r}")
        self.prompt_styles, self.max_exemplars = tuple(prompt_styles), max_exemplars
        self._boxes = GroundingTaskFn(["[OBJ]"], max_negatives=0)

    def __call__(self, objects: Sequence[ObjectAnnotation], width: int, height: int,
                 rng: random.Random) -> TaskSample:
        positives, _, _, num_dropped = self._boxes._group(objects, width, height)
        if not positives:
            raise EmptySampleError(f"no category with a usable box ({num_dropped} of {len(objects)} dropped)")
        category = rng.choice(sorted(positives))
        items = positives[category]
        given = [obj.box for obj in objects if obj.exemplar and clean_category_name(obj.phrase) == category]
        if given:
            exemplars = [quantize_box(b, width, height) for b in given]  # type: ignore[arg-type]
            exemplar_boxes = [list(map(float, b)) for b in given]  # type: ignore[arg-type]
        else:
            limit = len(items) if self.max_exemplars is None else min(len(items), self.max_exemplars)
            chosen = rng.sample(items, rng.randint(1, limit))
            exemplars = [bins for bins, _ in chosen]
            exemplar_boxes = [[float(c) for c in obj.box] for _, obj in chosen]  # type: ignore[union-attr]
        style = rng.choice(self.prompt_styles)
        key = WRAPPER_KEY if style == "wrapper" else category
        question = PROMPT_STYLES[style].replace(VISUAL_PROMPT_PLACEHOLDER, visual_prompt_json(key, exemplars, style))
        answer = compose_answer([(key, [bins for bins, _ in items])])
        truth = {key: phrase_geometry([obj for _, obj in items])}
        return TaskSample(question, answer, truth, num_dropped, {"exemplars": exemplar_boxes})

"""Shared logic of the phrase task functions: objects -> question, answer and ground truth.

``GroundingTaskFn`` and ``PointingTaskFn`` differ only in which geometry they quantise (boxes or
points). Everything else lives here: name cleaning, null and sampled negatives, sorting,
shuffling, the prompt and the answer. Task functions are pure: all randomness comes from the
``random.Random`` passed to ``__call__``.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataset.grammar import compose_answer
from dataset.task_fns.categories import clean_category_name

if TYPE_CHECKING:
    from dataset.annotations import ObjectAnnotation

# Absent categories added per sample from ``extra_categories``: enough to teach "None" answers
# without the original's prompt blow-up (it added the whole vocabulary).
DEFAULT_MAX_NEGATIVES = 3
OBJ_PLACEHOLDER = "[OBJ]"
CATEGORY_SEPARATOR = ", "

Bins = tuple[int, ...]


class EmptySampleError(ValueError):
    """The annotation leaves no usable positive or negative phrase."""


@dataclass(frozen=True)
class TaskSample:
    """One training example.

    ``ground_truth`` maps each cleaned phrase of the prompt to ``{"boxes", "points", "masks"}``
    lists in pixels of the original image, in answer order; negatives have all lists empty (the
    other tasks add ``"polygons"`` or ``"keypoints"`` lists). ``num_dropped`` counts annotated
    objects that could not be used (degenerate geometry, an empty cleaned phrase, or none of this
    task's geometry). ``extras`` are sample-level reward inputs (don't-care regions, exemplars, joint
    names), copied to the top level of the reward ground truth.
    """

    question: str
    answer: str
    ground_truth: dict[str, dict[str, list[Any]]]
    num_dropped: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def conversations(self) -> list[dict[str, str]]:
        """The LLaVA-style two-turn conversation used by the SFT datasets."""
        return [
            {"from": "human", "value": "<image>\n" + self.question},
            {"from": "gpt", "value": self.answer},
        ]


class PhraseTaskFn(ABC):
    """Base of the task functions; subclasses say which geometry of an object they quantise.

    Args:
        task_prompts: templates, each containing ``[OBJ]``; one is drawn per sample.
        image_min_pixels, image_max_pixels: kept for config compatibility; unused here
            (resizing is the processor's job and bins are relative to the original size).
        extra_categories: vocabulary for sampled negatives; cleaned and de-duplicated once.
        max_negatives: absent ``extra_categories`` added per sample (``None``: all of them).
    """

    def __init__(
        self,
        task_prompts: Sequence[str],
        image_min_pixels: int | None = None,
        image_max_pixels: int | None = None,
        extra_categories: Iterable[str] | None = None,
        max_negatives: int | None = DEFAULT_MAX_NEGATIVES,
    ) -> None:
        self.task_prompts = check_prompts(task_prompts)
        self.image_min_pixels = image_min_pixels
        self.image_max_pixels = image_max_pixels
        self.extra_categories = _clean_vocabulary(extra_categories)
        if max_negatives is not None and (
            not isinstance(max_negatives, int) or isinstance(max_negatives, bool) or max_negatives < 0
        ):
            raise ValueError(f"max_negatives must be a non-negative int or None, got {max_negatives!r}")
        self.max_negatives = max_negatives

    @abstractmethod
    def geometry(self, obj: ObjectAnnotation) -> Sequence[float] | None:
        """The pixel geometry this task quantises (a box or a point), or ``None``."""

    @abstractmethod
    def quantize(self, geometry: Sequence[float], width: int, height: int) -> Bins:
        """Bins of one geometry, relative to the original image size."""

    def is_degenerate(self, geometry: Sequence[float], width: int, height: int) -> bool:
        """Whether a geometry must be dropped rather than trained on."""
        return False

    def phrase_of(self, obj: ObjectAnnotation) -> str:
        """The phrase written for ``obj``: the cleaned category name (referring expressions keep theirs)."""
        return clean_category_name(obj.phrase)

    def __call__(
        self, objects: Sequence[ObjectAnnotation], width: int, height: int, rng: random.Random
    ) -> TaskSample:
        """Build the prompt, answer and ground truth for one image of ``width`` x ``height`` pixels.

        Raises:
            EmptySampleError: no object yields a positive or a null-negative phrase
                (sampled ``extra_categories`` alone do not make a sample).
        """
        positives, negatives, annotated, num_dropped = self._group(objects, width, height)
        if not positives and not negatives:
            raise EmptySampleError(f"no usable objects ({num_dropped} of {len(objects)} dropped)")
        phrases = list(positives) + negatives
        phrases += self._sample_negatives(annotated, rng)
        rng.shuffle(phrases)
        template = rng.choice(self.task_prompts)
        question = template.replace(OBJ_PLACEHOLDER, CATEGORY_SEPARATOR.join(phrases))
        answer = compose_answer((p, [bins for bins, _ in positives.get(p, ())]) for p in phrases)
        ground_truth = {p: phrase_geometry([obj for _, obj in positives.get(p, ())]) for p in phrases}
        return TaskSample(question, answer, ground_truth, num_dropped)

    def _group(
        self, objects: Sequence[ObjectAnnotation], width: int, height: int
    ) -> tuple[dict[str, list[tuple[Bins, ObjectAnnotation]]], list[str], set[str], int]:
        """Sorted positives per phrase, null negatives, every annotated phrase, and the drop count.

        A phrase is a negative only if all its objects are null entries: an object of the phrase
        that is present but unusable (dropped) still means the phrase is in the image.
        """
        positives: dict[str, list[tuple[Bins, ObjectAnnotation]]] = {}
        negatives: dict[str, None] = {}  # insertion-ordered set
        annotated: set[str] = set()
        present: set[str] = set()
        num_dropped = 0
        for obj in objects:
            if obj.exemplar:  # visual-prompt reference boxes are prompts, not answers
                continue
            phrase = self.phrase_of(obj)
            geometry = self.geometry(obj)
            if phrase:
                annotated.add(phrase)  # even if dropped below: never sample it as absent
            if phrase and obj.is_negative:
                negatives[phrase] = None
                continue
            present.add(phrase)
            if geometry is None or not phrase or self.is_degenerate(geometry, width, height):
                num_dropped += 1
            else:
                positives.setdefault(phrase, []).append((self.quantize(geometry, width, height), obj))
        for items in positives.values():
            items.sort(key=lambda item: item[0][0])  # by x0 bin only; stable, so ties keep file order
        return positives, [p for p in negatives if p not in present], annotated, num_dropped

    def _sample_negatives(self, annotated: set[str], rng: random.Random) -> list[str]:
        """Extra categories absent from the annotation, at most ``max_negatives`` of them."""
        pool = [c for c in self.extra_categories if c not in annotated]
        if self.max_negatives is None or self.max_negatives >= len(pool):
            return pool
        return rng.sample(pool, self.max_negatives)


def phrase_geometry(objects: Sequence[ObjectAnnotation]) -> dict[str, list[Any]]:
    """Per-phrase geometry lists. A kind is kept only if every object has it, so that index ``i``
    of ``boxes``, ``points`` and ``masks`` always describes the same object."""
    boxes = [obj.box for obj in objects]
    points = [obj.point for obj in objects]
    masks = [obj.mask for obj in objects]
    return {
        "boxes": [[float(c) for c in b] for b in boxes] if None not in boxes else [],
        "points": [[float(c) for c in p] for p in points] if None not in points else [],
        "masks": masks if None not in masks else [],
    }


def check_prompts(task_prompts: Sequence[str]) -> tuple[str, ...]:
    """``task_prompts`` as a tuple; ``ValueError`` unless it is a non-empty list of templates with ``[OBJ]``."""
    if isinstance(task_prompts, str) or not task_prompts:
        raise ValueError("task_prompts must be a non-empty list of templates")
    missing = [t for t in task_prompts if OBJ_PLACEHOLDER not in t]
    if missing:
        raise ValueError(f"task_prompts entries without {OBJ_PLACEHOLDER}: {missing!r}")
    return tuple(task_prompts)


def _clean_vocabulary(categories: Iterable[str] | None) -> tuple[str, ...]:
    if categories is None:
        return ()
    if isinstance(categories, str):
        raise TypeError("extra_categories must be a list of names, not a str")
    cleaned = {}
    for name in categories:
        clean = clean_category_name(name)
        if not clean:
            raise ValueError(f"extra_categories entry {name!r} is empty after cleaning")
        cleaned[clean] = None
    return tuple(cleaned)

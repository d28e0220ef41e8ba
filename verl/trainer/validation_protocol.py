"""GRPO validation through the detection protocol of ``tools/evaluate.py``, and prediction pictures.

The answers of a validation pass (sampled with ``worker.rollout.val_override_config``) are scored by
:mod:`evaluation.during_training`, the code ``tools/evaluate.py`` and the SFT evaluation use:
``val/protocol_box_mean_f1``, ``val/protocol_box_f1@0.5``, ``val/parse_rate``, ... (per dataset as
``val/<dataset>/...`` when several are configured, the plain key then being their mean).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from evaluation.during_training import answer_metrics, prediction_picture
from verl.protocol import Batch

__all__ = ["ValidationAnswers"]


class ValidationAnswers:
    """Collects one validation pass (answers, ground truths, questions, images) batch by batch."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.truths: list[dict[str, Any]] = []
        self.questions: list[str] = []
        self.images: list[Image.Image | None] = []

    def add(self, batch: Batch, texts: list[str]) -> None:
        """The decoded answers ``texts`` of a generated ``batch`` (one per row)."""
        self.texts.extend(texts)
        self.truths.extend(batch["ground_truth"])
        self.questions.extend(batch["prompt"])
        media = batch["multi_modal_data"] if "multi_modal_data" in batch else [None] * len(texts)
        self.images.extend((item or {}).get("image", [None])[0] for item in media)

    def score(self, num_pictures: int) -> tuple[dict[str, float], dict[str, Image.Image]]:
        """``val/``-prefixed protocol metrics, and pictures (GT left, answer right) of the first
        ``num_pictures`` samples of each dataset as ``val/pictures/<dataset>/<i>``."""
        metrics, grouped = answer_metrics(self.texts, self.truths, self.questions)
        pictures = {}
        for name, rows in grouped.items():
            for number, row in enumerate(rows[:max(num_pictures, 0)]):
                image = self.images[row["index"]]
                if image is not None:
                    pictures[f"val/pictures/{name}/{number}"] = prediction_picture(image, row)
        return {f"val/{k}": v for k, v in metrics.items()}, pictures

"""tools/evaluate.py --task for the other tasks: a model that answers the training target scores 1 under
its reward and the official lines; predictions JSONL scored again with --predictions gives the same numbers."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dataset.annotations import ObjectAnnotation, parse_annotation
from dataset.tsv import TsvWriter
from dataset.visualize import PALETTE, TITLE_HEIGHT, draw_objects
from evaluation.evaluate import default_task_fn, run_evaluation
from evaluation.official_predictions import read_predictions, score_records

ANNOTATIONS = {
    "visual_prompt": {"boxes": [{"bbox": [10, 10, 50, 50], "phrase": "pigeon"}, {"bbox": [60, 60, 90, 90], "phrase": "pigeon"}]},
    "keypoint": {"keypoints": [{"phrase": "person", "keypoint_type": "person", "bbox": [10, 10, 90, 90],
                                "keypoints": {"nose": [50, 30, 2], "left eye": [45, 25, 2]}}]},
    "ocr_box": {"boxes": [{"bbox": [10, 10, 60, 30], "phrase": "Hello,"}, {"bbox": [10, 50, 60, 70], "phrase": "World"}]},
    "ocr_polygon": {"polygons": [{"polygon": [10, 10, 60, 12, 60, 30, 10, 28], "phrase": "Hello"}]},
    "gui_grounding": {"boxes": [{"bbox": [20, 20, 40, 40], "phrase": "play 'song'"}]},
    "gui_pointing": {"boxes": [{"bbox": [20, 20, 40, 40], "phrase": "pause"}]},
    "referring": {"boxes": [{"bbox": [20, 20, 40, 40], "phrase": "man in red, left"}]},
    "hallucination": {"boxes": [{"bbox": None, "phrase": "unicorn"}]},
}
MAIN = {"visual_prompt": "protocol_box_f1@0.5", "keypoint": "protocol_keypoint_ap@0.5", "ocr_box": "protocol_box_f1@0.5",
        "ocr_polygon": "protocol_polygon_f1@0.5", "gui_grounding": "protocol_gui_accuracy",
        "gui_pointing": "protocol_gui_accuracy", "referring": "protocol_box_f1@0.5",
        "hallucination": "protocol_hallucination_accuracy"}


class TargetEcho:
    """A 'model' that answers every question with the task function's own target for that image."""

    def __init__(self, task: str) -> None:
        self.task_fn, self.annotation = default_task_fn(task), parse_annotation(ANNOTATIONS[task])

    def generate(self, images: list[Image.Image], questions: list[str]) -> list[str]:
        return [self.task_fn(self.annotation, *img.size, random.Random(0)).answer + "<|im_end|>" for img in images]


def write_split(directory: Path, annotation: dict[str, Any]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (100, 100), (90, 90, 90)).save(buf, format="JPEG")
    prefix = directory / "split"
    with TsvWriter(f"{prefix}.images.tsv", f"{prefix}.annotations.tsv", f"{prefix}.annotations.tsv.lineidx") as writer:
        for _ in range(2):
            writer.add(buf.getvalue(), annotation)
    return str(prefix)


@pytest.mark.parametrize("task", sorted(ANNOTATIONS))
def test_the_target_answer_scores_one(task: str, tmp_path: Path) -> None:
    split = write_split(tmp_path, ANNOTATIONS[task])
    metrics = run_evaluation(TargetEcho(task), split, task, tmp_path / "out", batch_size=2, num_visualisations=1,
                             html_path=tmp_path / "out" / "report.html")
    reward = next(v for k, v in metrics.items() if k.startswith("mean_") and k.endswith("_reward"))
    assert metrics["parse_rate"] == 1.0 and reward == pytest.approx(1.0, abs=0.02)  # quantisation, 100 px image
    assert metrics[MAIN[task]] == pytest.approx(1.0)
    rescored = score_records(read_predictions(tmp_path / "out" / "predictions.jsonl"))
    assert rescored[MAIN[task].removeprefix("protocol_")] == metrics[MAIN[task]]
    assert (tmp_path / "out" / "report.html").stat().st_size > 0


@pytest.mark.parametrize(("task", "on_line"), [("keypoint", [(47, 27), (48, 28)]),  # nose - left eye edge
                                               ("ocr_polygon", [(60, 18), (60, 22), (35, 11)])])  # polygon edges
def test_the_png_draws_skeletons_and_polygons(task: str, on_line: list[tuple[int, int]], tmp_path: Path) -> None:
    run_evaluation(TargetEcho(task), write_split(tmp_path, ANNOTATIONS[task]), task, tmp_path / "out",
                   num_visualisations=1)
    pixels = np.asarray(Image.open(tmp_path / "out" / "vis" / "00000.png").convert("RGB")).astype(int)
    half = pixels.shape[1] // 2  # ground truth left, the prediction (the target, quantised) right
    for x, y in on_line:
        for left in (0, half):  # within a pixel of the line (quantisation moves the predicted one)
            near = pixels[TITLE_HEIGHT + y - 1:TITLE_HEIGHT + y + 2, left + x - 1:left + x + 2]
            assert (np.abs(near - PALETTE[0]).sum(axis=-1) < 30).any(), (task, x, y, left)


def test_the_png_lists_an_absent_phrase_as_a_negative(tmp_path: Path) -> None:
    split = write_split(tmp_path, ANNOTATIONS["hallucination"])
    run_evaluation(TargetEcho("hallucination"), split, "hallucination", tmp_path / "out", num_visualisations=1)
    drawn = np.asarray(Image.open(tmp_path / "out" / "vis" / "00000.png").convert("RGB"))
    legend = np.asarray(draw_objects(Image.new("RGB", (100, 100), (90, 90, 90)), [ObjectAnnotation("unicorn")]))
    assert drawn.shape[0] == TITLE_HEIGHT + legend.shape[0]  # the legend strip has the negative's line
    assert (drawn[TITLE_HEIGHT + 100:, :legend.shape[1]] == legend[100:]).all()

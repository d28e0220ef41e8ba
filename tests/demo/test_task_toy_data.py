"""demo/task_toy_data.py and ``make_toy_data.py --task``: deterministic toy sets per task whose
annotations the task functions read, drawn where the annotation says, and varying per image."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from dataset.annotations import parse_annotation
from dataset.task_fns import (
    GuiGroundingTaskFn,
    GuiPointingTaskFn,
    KeypointTaskFn,
    OcrBoxTaskFn,
    OcrPolygonTaskFn,
    VisualPromptTaskFn,
)
from dataset.tsv import TsvReader
from demo.task_toy_data import TASK_SCENES, WORDS, make_task_scene
from tools import make_toy_data

TASK_FNS = {"visual_prompt": [VisualPromptTaskFn()], "keypoint": [KeypointTaskFn()], "ocr_box": [OcrBoxTaskFn()],
            "ocr_polygon": [OcrPolygonTaskFn()], "gui": [GuiGroundingTaskFn(), GuiPointingTaskFn()]}
SIZE = 112


def _scenes(task: str, n: int = 24, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [make_task_scene(task, rng, SIZE, SIZE) for _ in range(n)]


def _green(image, x: float, y: float) -> int:
    """Green of the brightest-green pixel within 1 px of (x, y); the canvas's green is about 30."""
    pixels = np.asarray(image)
    xi, yi = int(x), int(y)
    patch = pixels[max(0, yi - 1):yi + 2, max(0, xi - 1):xi + 2, 1]
    return int(patch.max())


@pytest.mark.parametrize("task", sorted(TASK_SCENES))
def test_every_scene_parses_and_every_task_fn_builds_a_sample(task: str) -> None:
    for image, annotation in _scenes(task):
        assert image.size == (SIZE, SIZE)
        objects = parse_annotation(annotation)
        for task_fn in TASK_FNS[task]:
            sample = task_fn(objects, SIZE, SIZE, random.Random(0))
            assert sample.question and sample.answer


@pytest.mark.parametrize("task", sorted(TASK_SCENES))
def test_answers_vary_so_a_blind_guess_fails(task: str) -> None:
    # An image-blind model answers one text per question; if answers repeat rarely it scores ~0.
    answers = {}
    for _, annotation in _scenes(task, n=40):
        sample = TASK_FNS[task][0](parse_annotation(annotation), SIZE, SIZE, random.Random(0))
        answers.setdefault(sample.question, []).append(sample.answer)
    for question, given in answers.items():
        assert max(given.count(a) for a in given) <= max(2, len(given) // 5), question


def test_geometry_is_drawn_where_the_annotation_says() -> None:
    for image, annotation in _scenes("visual_prompt"):
        [(phrase, exemplars)] = annotation["visual_prompt"].items()
        boxes = [e["bbox"] for e in annotation["boxes"]]
        assert exemplars == [exemplars[0]] and exemplars[0] in boxes  # one exemplar, one of the copies
        assert len(boxes) >= 3 and all(e["phrase"] == phrase for e in annotation["boxes"])
        # a distractor: drawn (green) outside every annotated box, and not annotated
        drawn = np.asarray(image)[:, :, 1] > 150
        for x0, y0, x1, y1 in boxes:
            drawn[int(y0):int(y1) + 1, int(x0):int(x1) + 1] = False
        assert drawn.sum() >= 20
    for image, annotation in _scenes("keypoint"):
        for figure in annotation["keypoints"]:
            x, y, v = figure["keypoints"]["head"]
            assert v == 2 and _green(image, x, y) > 150
    for image, annotation in _scenes("ocr_polygon"):
        for entry in annotation["polygons"]:
            assert entry["phrase"] in WORDS and len(entry["polygon"]) == 8
            xs, ys = entry["polygon"][0::2], entry["polygon"][1::2]
            inside = np.asarray(image)[int(min(ys)):int(max(ys)) + 1, int(min(xs)):int(max(xs)) + 1, 1]
            assert (inside > 150).sum() >= 20
    for image, annotation in _scenes("gui"):
        for entry in annotation["boxes"]:
            x0, y0, _, _ = entry["bbox"]
            assert entry["phrase"].startswith("click ") and _green(image, x0, y0) > 150  # the outline


def test_dont_care_scribbles_are_marked() -> None:
    entries = [e for _, a in _scenes("ocr_box", n=40) for e in a["polygons"]]
    ignored = [e for e in entries if e.get("ignore")]
    assert ignored and all(e["phrase"] == "###" for e in ignored)
    assert all(e["phrase"] in WORDS for e in entries if not e.get("ignore"))


def test_cli_builds_every_task_deterministically(tmp_path: Path) -> None:
    for out in (tmp_path / "a", tmp_path / "b"):
        assert make_toy_data.main(["--task", "all", "--output_dir", str(out), "--num_train", "6", "--num_val", "3",
                                   "--no_progress"]) == 0
    for task in TASK_SCENES:
        for split, n in (("train", 6), ("val", 3)):
            stem = f"toy_{task}_{split}"
            files = [f"{stem}.images.tsv", f"{stem}.annotations.tsv", f"{stem}.annotations.tsv.lineidx"]
            assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
            assert len(TsvReader(*(str(tmp_path / "a" / f) for f in files))) == n
        assert json.loads((tmp_path / "a" / f"toy_{task}_manifest.json").read_text())["task"] == task
    val = TsvReader(*(str(tmp_path / "a" / f"toy_gui_val.{s}") for s in
                      ("images.tsv", "annotations.tsv", "annotations.tsv.lineidx")))
    train = TsvReader(*(str(tmp_path / "a" / f"toy_gui_train.{s}") for s in
                        ("images.tsv", "annotations.tsv", "annotations.tsv.lineidx")))
    assert val.read(0)[1] != train.read(0)[1]  # held-out split is drawn separately


def test_cli_rejects_a_too_small_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = make_toy_data.main(["--task", "gui", "--output_dir", str(tmp_path), "--image_size", "40"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "at least 64x64" in err and "\n" not in err

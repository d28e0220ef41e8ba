"""The task demo's diagnosis: hand-made predictions lines with hand-computed numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset.tsv import TsvWriter, encode_image
from demo.task_demo_diagnosis import (
    diagnose,
    gui_diagnosis,
    keypoint_diagnosis,
    main,
    ocr_diagnosis,
    visual_prompt_diagnosis,
)

BUTTONS = [{"click OK": [0, 0, 20, 10], "click Save": [60, 60, 100, 80]},
           {"click OK": [0, 0, 20, 10], "click Save": [60, 60, 100, 80], "click Yes": [0, 60, 20, 80]}]


def _gui_line(index: int, label: str, item: list[float] | None) -> dict:
    return {"index": index, "question": f'Point to element "click {label}".',
            "extracted_predictions": {f"click {label}": [item]} if item else {}}


def test_gui_counts_the_nearest_button_not_the_hit() -> None:
    lines = [_gui_line(0, "OK", [30, 20]),            # outside every button, nearest OK (centre 10, 5): named
             _gui_line(1, "Yes", [80, 70]),           # inside Save: another button
             _gui_line(1, "Save", [70, 62, 90, 78]),  # a box whose centre is Save's: named, 0 px
             _gui_line(0, "Save", None)]              # no answer
    numbers = gui_diagnosis(lines, BUTTONS)
    assert numbers["named_button"] == pytest.approx(2 / 4)
    assert numbers["chance"] == pytest.approx((1 / 2 + 1 / 3 + 1 / 3 + 1 / 2) / 4)
    # errors 0 and hypot(20, 15) = 25: median 12.5
    assert numbers["median_error_px_when_named"] == pytest.approx(12.5)


def test_ocr_separates_text_from_geometry() -> None:
    lines = [
        {"gt": {"SUN": [[10, 10, 40, 20]], "GO": [[50, 50, 70, 60]], "###": [[0, 0, 5, 5]]},
         # SUN's text at the wrong place; GO's place with the wrong text
         "extracted_predictions": {"SUN": [[80, 80, 100, 90]], "TREE": [[50, 50, 70, 60]]}},
        {"gt": {"TREE": [[0, 0, 10, 10, 10, 20, 0, 20]]},  # a polygon: bounds (0, 0, 10, 20)
         "extracted_predictions": {"TREE": [[0, 0, 10, 0, 10, 16, 0, 16]]}},  # IoU 160 / 200 = 0.8
    ]
    numbers = ocr_diagnosis(lines)
    assert numbers["words"] == 3  # ### is not a word
    assert numbers["text_recall"] == pytest.approx(2 / 3)  # SUN, TREE
    assert numbers["box_recall"] == pytest.approx(2 / 3)   # GO, TREE
    assert numbers["text_and_box"] == pytest.approx(1 / 3)  # TREE


def test_visual_prompt_centre_errors_and_counts() -> None:
    lines = [{"gt": {"object_1": [[0, 0, 10, 10], [50, 50, 60, 60]]},
              "extracted_predictions": {"object_1": [[3, 4, 13, 14], [0, 0, 10, 10], [90, 90, 100, 100]]}},
             {"gt": {"object_1": [[20, 20, 30, 30]]}, "extracted_predictions": {}}]
    numbers = visual_prompt_diagnosis(lines)
    assert numbers["boxes_answered_per_image"] == pytest.approx(3 / 2)
    assert numbers["copies_per_image"] == pytest.approx(3 / 2)
    # copy 1 (centre 5, 5): 0 px; copy 2 (55, 55): nearest centre (95, 95), hypot(40, 40); the unanswered
    # image adds none
    assert numbers["median_centre_error_px"] == pytest.approx((0 + 40 * 2 ** 0.5) / 2)
    assert numbers["copies_within_5px"] == pytest.approx(0.5)


def test_keypoint_errors_skip_hidden_joints_and_count_missing_ones() -> None:
    figure = {"bbox": [0, 0, 50, 90], "keypoints": {"head": [25, 10, 2], "left hand": [40, 30, 0],
                                                    "right hand": [10, 30, 2]}}
    lines = [{"gt": {"figure": [figure]},
              "extracted_predictions": {"figure": [{"bbox": [0, 0, 50, 90],
                                                    "keypoints": {"head": [28, 14], "left hand": [0, 0]}}]}}]
    numbers = keypoint_diagnosis(lines)
    assert numbers["median_error_px"] == {"head": pytest.approx(5.0)}  # left hand hidden: not scored
    assert numbers["missing_joints"] == 1  # right hand visible, not answered


def test_main_reads_an_eval_folder_and_the_gui_split(tmp_path: Path) -> None:
    toy = tmp_path / "toy"
    toy.mkdir()
    base = toy / "toy_gui_val"
    from PIL import Image
    with TsvWriter(f"{base}.images.tsv", f"{base}.annotations.tsv", f"{base}.annotations.tsv.lineidx") as writer:
        for buttons in BUTTONS:
            writer.add(encode_image(Image.new("RGB", (112, 112)), "JPEG", 95),
                       {"boxes": [{"bbox": box, "phrase": phrase} for phrase, box in buttons.items()]})
    folder = tmp_path / "eval" / "trained" / "gui_pointing"
    folder.mkdir(parents=True)
    (folder / "predictions.jsonl").write_text(json.dumps(_gui_line(1, "Yes", [5, 70])) + "\n")
    assert diagnose(tmp_path / "eval", toy)["gui_pointing"]["trained"]["named_button"] == 1.0
    out = tmp_path / "diagnosis.md"
    assert main(["--eval_root", str(tmp_path / "eval"), "--toy_dir", str(toy), "--output", str(out)]) == 0
    assert "| trained | 1 | 1.00 | 0.33 | 5.00 |" in out.read_text().splitlines()

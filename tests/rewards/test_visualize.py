"""GRPO debug images (``LOG_VISUALIZE_PATH``): OCR polygons and keypoint instances drawn on both panels."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from reward_helpers import answer, make_gt

from dataset.grammar import KeypointInstance, compose_keypoint_answer, parse_answer
from dataset.visualize import TITLE_HEIGHT
from rewards.ground_truth import parse_ground_truth
from rewards.visualize import keypoint_objects, predicted_objects, render_comparison, truth_objects
from verl.configs.reward_func import compute_score

WORD = [100.0, 100.0, 300.0, 120.0, 290.0, 200.0, 110.0, 180.0]  # a rotated word's quadrilateral, pixels
POLYGON_GT = make_gt({"GO": {"boxes": [[100, 100, 300, 200]], "polygons": [WORD]}}, reward_name="polygon_iou")
NAMES = ["head", "left hand", "right hand"]
KEYPOINT_GT = {
    **make_gt({"person": {"boxes": [[200, 100, 600, 900]],
                          "keypoints": [{"head": [400, 150, 2], "left hand": [250, 500, 2], "right hand": [0, 0, 0]}]}},
              reward_name="keypoint_oks"),
    "keypoint_names": NAMES,
}
KEYPOINT_TEXT = compose_keypoint_answer(
    [KeypointInstance("person", (210, 110, 590, 880), {"head": (410, 160), "left hand": (260, 510), "right hand": None})])


def test_truth_objects_carry_the_polygons_and_the_joints() -> None:
    (word,) = truth_objects(parse_ground_truth(POLYGON_GT))
    assert word.phrase == "GO" and word.polygon == tuple(WORD) and word.box == (100.0, 100.0, 300.0, 200.0)
    (person,) = truth_objects(parse_ground_truth(KEYPOINT_GT))
    assert person.keypoints == {"head": (400.0, 150.0, 2), "left hand": (250.0, 500.0, 2), "right hand": (0.0, 0.0, 0)}
    assert person.keypoint_names == tuple(NAMES) and person.box == (200.0, 100.0, 600.0, 900.0)


def test_predicted_polygons_and_keypoint_instances() -> None:
    # On the 999 x 999 image a bin is a pixel.
    groups = parse_answer(answer(("GO", [(100, 100, 300, 120, 290, 200, 110, 180)])))
    (word,) = predicted_objects(groups, 999, 999, polygons=True)
    assert word.phrase == "GO" and word.polygon == tuple(WORD) and word.box is None
    # The box and point rewards read the same run as two boxes (corners ordered) or four points, and so
    # does their debug image.
    as_read = predicted_objects(groups, 999, 999)
    assert [o.box for o in as_read if o.box] == [(100.0, 100.0, 300.0, 120.0), (110.0, 180.0, 290.0, 200.0)]
    assert [o.point for o in as_read if o.point] == [(100.0, 100.0), (300.0, 120.0), (290.0, 200.0), (110.0, 180.0)]
    (person,) = keypoint_objects(KEYPOINT_TEXT, 999, 999)
    assert person.phrase == "person" and person.box == (210.0, 110.0, 590.0, 880.0)
    joints = person.keypoints or {}
    assert list(joints) == ["head", "left hand"]  # "unvisible" left out
    assert joints["head"] == pytest.approx((410, 160, 2)) and joints["left hand"] == pytest.approx((260, 510, 2))
    assert keypoint_objects("not json", 999, 999) == []


def _right_panel_pixel(image: Image.Image, x: float, y: float) -> tuple[int, int, int]:
    return image.getpixel((999 + round(x), TITLE_HEIGHT + round(y)))


@pytest.mark.parametrize(
    ("gt", "text", "where"),
    [
        (POLYGON_GT, answer(("GO", [(100, 100, 300, 120, 290, 200, 110, 180)])), (200, 110)),  # mid top edge
        (KEYPOINT_GT, KEYPOINT_TEXT, (410, 160)),  # the head joint
    ],
    ids=["polygon", "keypoints"],
)
def test_the_prediction_panel_draws_them(gt: dict, text: str, where: tuple[int, int]) -> None:
    black = Image.new("RGB", (999, 999))
    truth = parse_ground_truth(gt)
    drawn = render_comparison(black, truth, parse_answer(text), "p", max_side=None, text=text)
    empty = render_comparison(black, truth, [], "p", max_side=None, text="")
    assert _right_panel_pixel(drawn, *where) != (0, 0, 0)
    assert _right_panel_pixel(empty, *where) == (0, 0, 0)


def test_compute_score_draws_keypoints_from_the_answer_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_VISUALIZE_PATH", str(tmp_path / "vis"))
    compute_score([KEYPOINT_TEXT], [KEYPOINT_GT], images=[Image.new("RGB", (999, 999))])
    (png,) = (tmp_path / "vis").glob("*.png")
    with Image.open(png) as image:
        scale = image.width / (2 * 999)  # written with the longer side at 512
        head = image.getpixel((round((999 + 410) * scale), round((TITLE_HEIGHT + 160) * scale)))
    assert head != (0, 0, 0) and png.name.startswith("keypoint_oks_test_")

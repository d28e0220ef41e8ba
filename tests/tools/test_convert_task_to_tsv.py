"""tools/convert_task_to_tsv.py: each task format round-trips a toy file built here; bad records are
listed, user mistakes are one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dataset.annotations import parse_annotation
from dataset.tsv import TsvReader
from tools.convert_task_to_tsv import main

PERSON_RAW = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle"]


def _images(root: Path, names: list[str], size: tuple[int, int] = (64, 48)) -> Path:
    folder = root / "images"
    folder.mkdir(exist_ok=True)
    for name in names:
        Image.new("RGB", size, (200, 100, 50)).save(folder / name)
    return folder


def _convert(tmp_path: Path, flags: list[str], images: Path) -> list[dict[str, Any]]:
    prefix = str(tmp_path / "out")
    assert main([*flags, "--image_root", str(images), "--output_prefix", prefix, "--output_jsonl",
                 prefix + ".jsonl", "--no_progress"]) == 0
    reader = TsvReader(f"{prefix}.images.tsv", f"{prefix}.annotations.tsv", f"{prefix}.annotations.tsv.lineidx")
    annotations = [reader.read(i)[1] for i in range(len(reader))]
    jsonl = [json.loads(x) for x in Path(prefix + ".jsonl").read_text().splitlines()]
    assert [x["annotation"] for x in jsonl] == annotations
    for ann in annotations:
        parse_annotation(ann)
    return jsonl


def test_coco_person_keypoints(tmp_path: Path) -> None:
    flat = [0.0] * 51
    flat[0:3] = [10, 12, 2]      # nose visible
    flat[3:6] = [11, 11, 1]      # left eye occluded
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
                       {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "person", "keypoints": PERSON_RAW}],
            "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [5, 6, 20, 30], "keypoints": flat},
                            {"id": 8, "image_id": 1, "category_id": 1, "bbox": [30, 6, 5, 5], "keypoints": [0] * 51},
                            {"id": 9, "image_id": 2, "category_id": 1, "bbox": [5, 6, 20, 30], "keypoints": [1, 2]}]}
    (tmp_path / "kp.json").write_text(json.dumps(coco))
    images = _images(tmp_path, ["a.jpg", "b.jpg"])
    out = _convert(tmp_path, ["--format", "coco_keypoints", "--ann_file", str(tmp_path / "kp.json")], images)
    assert len(out) == 1 and out[0]["image_name"] == "a.jpg"  # b.jpg's only instance is bad
    [entry] = out[0]["annotation"]["keypoints"]            # id 8 has no labelled joint
    assert entry["bbox"] == [5.0, 6.0, 25.0, 36.0] and entry["keypoint_type"] == "person"
    assert entry["keypoints"]["nose"] == [10.0, 12.0, 2] and entry["keypoints"]["left eye"] == [11.0, 11.0, 1]
    assert entry["keypoints"]["right ankle"] == [0.0, 0.0, 0] and len(entry["keypoints"]) == 17
    assert "keypoint_names" not in out[0]["annotation"]


def test_animal_and_custom_joint_lists(tmp_path: Path) -> None:
    animal = ["left_eye", "right_eye", "nose", "neck", "root_of_tail", "left_shoulder", "left_elbow",
              "left_front_paw", "right_shoulder", "right_elbow", "right_front_paw", "left_hip", "left_knee",
              "left_back_paw", "right_hip", "right_knee", "right_back_paw"]
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
                       {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48}],
            "categories": [{"id": 3, "name": "dog", "keypoints": animal},
                           {"id": 4, "name": "robot", "keypoints": ["head", "base"]}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 10, 10],
                             "keypoints": [2, 3, 2] + [0] * 48},
                            {"id": 2, "image_id": 2, "category_id": 4, "bbox": [1, 1, 10, 10],
                             "keypoints": [4, 4, 2, 5, 9, 1]}]}
    (tmp_path / "kp.json").write_text(json.dumps(coco))
    out = _convert(tmp_path, ["--format", "coco_keypoints", "--ann_file", str(tmp_path / "kp.json")],
                   _images(tmp_path, ["a.jpg", "b.jpg"]))
    dog, robot = out[0]["annotation"], out[1]["annotation"]
    assert dog["keypoints"][0]["keypoint_type"] == "animal" and dog["keypoints"][0]["keypoints"]["left eye"] == [2, 3, 2]
    assert robot["keypoint_names"] == ["head", "base"] and "keypoint_type" not in robot["keypoints"][0]
    assert robot["keypoints"][0]["keypoints"] == {"head": [4.0, 4.0, 2], "base": [5.0, 9.0, 1]}


def test_icdar2015_lines_with_dont_care_and_commas(tmp_path: Path) -> None:
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "gt_img_1.txt").write_text("\ufeff1,2,30,2,30,12,1,12,Hello, world\n5,20,9,20,9,25,5,25,###\n",
                                     encoding="utf-8")
    (gt / "gt_img_2.txt").write_text("1,2,3,Bad\n", encoding="utf-8")
    out = _convert(tmp_path, ["--format", "icdar2015", "--ann_dir", str(gt)], _images(tmp_path, ["img_1.jpg",
                                                                                                 "img_2.jpg"]))
    assert len(out) == 1 and out[0]["image_name"] == "img_1.jpg"
    first, second = out[0]["annotation"]["polygons"]
    assert first == {"polygon": [1.0, 2.0, 30.0, 2.0, 30.0, 12.0, 1.0, 12.0], "bbox": [1.0, 2.0, 30.0, 12.0],
                     "phrase": "Hello, world", "level": "word", "ignore": False}
    assert second["ignore"] is True and second["phrase"] == "###"


def test_totaltext_curved_polygon(tmp_path: Path) -> None:
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "poly_gt_img11.txt").write_text(
        "x: [[115 503 494 115]], y: [[322 346 426 404]], ornt: [u'm'], transcriptions: [u'nauGHTY']\n"
        "x: [[1 5 9 5 1]], y: [[1 0 1 4 4]], ornt: [u'c'], transcriptions: [u'#']\n")
    out = _convert(tmp_path, ["--format", "totaltext", "--ann_dir", str(gt)],
                   _images(tmp_path, ["img11.jpg"], size=(600, 500)))
    word, dont_care = out[0]["annotation"]["polygons"]
    assert word["polygon"] == [115.0, 322.0, 503.0, 346.0, 494.0, 426.0, 115.0, 404.0]
    assert word["phrase"] == "nauGHTY" and word["ignore"] is False
    assert len(dont_care["polygon"]) == 10 and dont_care["ignore"] is True


def test_hiertext_lines_and_words(tmp_path: Path) -> None:
    line = {"vertices": [[1, 1], [20, 1], [20, 8], [1, 8]], "text": "OPEN 24", "legible": True,
            "words": [{"vertices": [[1, 1], [10, 1], [10, 8], [1, 8]], "text": "OPEN", "legible": True},
                      {"vertices": [[12, 1], [20, 1], [20, 8]], "text": "24", "legible": False}]}
    data = {"annotations": [{"image_id": "abc", "w": 64, "h": 48, "paragraphs": [{"lines": [line]}]}]}
    (tmp_path / "h.json").write_text(json.dumps(data))
    images = _images(tmp_path, ["abc.jpg"])
    [lines] = _convert(tmp_path, ["--format", "hiertext", "--ann_file", str(tmp_path / "h.json")], images)
    assert [(p["phrase"], p["level"]) for p in lines["annotation"]["polygons"]] == [("OPEN 24", "text line")]
    [words] = _convert(tmp_path, ["--format", "hiertext", "--ann_file", str(tmp_path / "h.json"), "--level", "word"],
                       images)
    assert [(p["phrase"], p["ignore"]) for p in words["annotation"]["polygons"]] == [("OPEN", False), ("24", True)]


def test_screenspot_groups_elements_per_screenshot(tmp_path: Path) -> None:
    items = [{"img_filename": "s.png", "bbox": [10, 5, 20, 10], "instruction": "open \"settings\"", "data_type": "icon"},
             {"img_filename": "s.png", "bbox": [40, 30, 10, 10], "instruction": "close", "point": [45, 33]},
             {"img_filename": "t.png", "bbox": [1, 1, 0, 5], "instruction": "broken"}]
    (tmp_path / "ss.json").write_text(json.dumps(items))
    out = _convert(tmp_path, ["--format", "screenspot", "--ann_file", str(tmp_path / "ss.json")],
                   _images(tmp_path, ["s.png", "t.png"]))
    assert out == [{"image_name": "s.png", "annotation": {"boxes": [
        {"bbox": [10.0, 5.0, 30.0, 15.0], "phrase": 'open "settings"'},
        {"bbox": [40.0, 30.0, 50.0, 40.0], "phrase": "close", "point": [45.0, 33.0]}]}}]


def test_visual_prompt_sampled_and_given(tmp_path: Path) -> None:
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "cup"}, {"id": 2, "name": "pen"}],
            "annotations": [{"id": i, "image_id": 1, "category_id": 1 + (i > 3), "bbox": [2 * i, 2, 4, 4]}
                            for i in range(1, 6)]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    images = _images(tmp_path, ["a.jpg"])
    [sampled] = _convert(tmp_path, ["--format", "visual_prompt", "--ann_file", str(tmp_path / "c.json"),
                                    "--num_exemplars", "2"], images)
    cup_boxes = [[2.0 * i, 2.0, 2.0 * i + 4, 6.0] for i in (1, 2, 3)]
    prompt = sampled["annotation"]["visual_prompt"]
    assert len(prompt["cup"]) == 2 and all(b in cup_boxes for b in prompt["cup"])
    assert len(prompt["pen"]) == 2  # both pen boxes
    (tmp_path / "ex.json").write_text(json.dumps({"a.jpg": {"cup": [[2, 2, 6, 6]]}}))
    [given] = _convert(tmp_path, ["--format", "visual_prompt", "--ann_file", str(tmp_path / "c.json"),
                                  "--exemplar_file", str(tmp_path / "ex.json")], images)
    assert given["annotation"]["visual_prompt"] == {"cup": [[2, 2, 6, 6]]}
    [none] = _convert(tmp_path, ["--format", "visual_prompt", "--ann_file", str(tmp_path / "c.json"),
                                 "--num_exemplars", "0"], images)
    assert "visual_prompt" not in none["annotation"] and len(none["annotation"]["boxes"]) == 5


def test_bad_records_are_listed_and_strict_writes_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "gt_img_1.txt").write_text("1,2,3,Bad\n")
    images = _images(tmp_path, ["img_1.jpg"])
    prefix = tmp_path / "out"
    assert main(["--format", "icdar2015", "--ann_dir", str(gt), "--image_root", str(images), "--output_prefix",
                 str(prefix), "--strict", "--no_progress"]) == 1
    assert "gt_img_1.txt: line 1: expected 8 coordinates" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt", "images"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--format", "icdar2015"], "--format icdar2015 needs --ann_dir"),
    (["--format", "screenspot"], "--format screenspot needs --ann_file"),
    (["--format", "screenspot", "--ann_file", "nope.json"], "file not found: nope.json"),
    (["--format", "visual_prompt", "--ann_file", "x", "--num_exemplars", "-1"], "--num_exemplars must be >= 0"),
    (["--format", "icdar2015", "--ann_dir", "no_such_dir"], "annotation folder not found: no_such_dir"),
])
def test_user_mistakes_exit_2_with_one_line(tmp_path: Path, flags: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*flags, "--image_root", str(tmp_path), "--output_prefix", str(tmp_path / "x"), "--no_progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []

"""The visual-prompt, OCR, keypoint, GUI and referring task functions: wrapper prompts byte for byte
(typed from the released wrapper's templates), answers that parse back to the annotation."""

from __future__ import annotations

import json
import random

import pytest

from dataset.annotations import parse_annotation
from dataset.grammar import dequantize, parse_answer, parse_keypoint_answer
from dataset.task_fns import (
    EmptySampleError,
    GuiGroundingTaskFn,
    GuiPointingTaskFn,
    KeypointTaskFn,
    OcrBoxTaskFn,
    OcrPolygonTaskFn,
    ReferringTaskFn,
    VisualPromptTaskFn,
)
from dataset.task_fns.task_prompts.other_tasks import (
    GUI_GROUNDING_CORRECTED,
    GUI_POINTING_TUTORIAL,
    OCR_BOX_EVALUATION,
    OCR_POLYGON_EVALUATION,
)

W, H = 999, 1998  # bin = int(c / L * 999): x bins equal x pixels, y bins are half the y pixels


def run(fn: object, annotation: dict, seed: int = 0, size: tuple[int, int] = (W, H)):
    return fn(parse_annotation(annotation), size[0], size[1], random.Random(seed))  # type: ignore[operator]


def test_visual_prompt_wrapper_prompt_and_answer() -> None:
    ann = {"boxes": [{"bbox": [524, 1338, 545, 1456], "phrase": "pigeon"},
                     {"bbox": [301, 1224, 352, 1380], "phrase": "pigeon"},
                     {"bbox": [286, 1520, 374, 1710], "phrase": "pigeon"}],
           "visual_prompt": {"pigeon": [[286, 1520, 374, 1710], [524, 1338, 545, 1456]]}}
    sample = run(VisualPromptTaskFn(), ann)
    assert sample.question == (
        'Given reference boxes {"object_1": ["<286><760><374><855>", "<524><669><545><728>"]} indicating one or '
        "more objects, find all similar objects in the image and output their bounding boxes.")
    assert sample.answer == ("<|object_ref_start|>object_1<|object_ref_end|><|box_start|>"
                             "<286><760><374><855>,<301><612><352><690>,<524><669><545><728><|box_end|>")
    assert sample.extras["exemplars"] == [[286.0, 1520.0, 374.0, 1710.0], [524.0, 1338.0, 545.0, 1456.0]]
    assert len(sample.ground_truth["object_1"]["boxes"]) == 3


def test_visual_prompt_evaluation_prompt_and_sampled_exemplars() -> None:
    ann = {"boxes": [{"bbox": [286, 1520, 374, 1710], "phrase": "pigeon"}]}
    sample = run(VisualPromptTaskFn(prompt_styles=["evaluation"]), ann)
    assert sample.question == (
        'Given reference boxes {"pigeon": "<286><760><374><855>"} indicating one or more objects, find all '
        "objects with the same category in the image and output their bounding boxes in [x0, y0, x1, y1] format.")
    assert parse_answer(sample.answer)[0].phrase == "pigeon"
    with pytest.raises(EmptySampleError):
        run(VisualPromptTaskFn(), {"boxes": [{"bbox": None, "phrase": "pigeon"}]})


def test_ocr_box_text_is_verbatim_and_in_reading_order() -> None:
    ann = {"boxes": [{"bbox": [188, 586, 302, 686], "phrase": "Rachel,", "level": "word"},
                     {"bbox": [83, 592, 178, 698], "phrase": " Hello "},
                     {"bbox": [10, 1000, 50, 1100], "phrase": "a<b"},
                     {"bbox": [400, 1000, 500, 1100], "phrase": "###", "ignore": True},
                     {"bbox": [83, 900, 178, 990], "phrase": "km/h"}]}
    sample = run(OcrBoxTaskFn(), ann)
    assert sample.question == "Detect all word and recognize them."
    assert sample.answer == (
        "<|object_ref_start|>Hello<|object_ref_end|><|box_start|><83><296><178><349><|box_end|>, "
        "<|object_ref_start|>Rachel,<|object_ref_end|><|box_start|><188><293><302><343><|box_end|>, "
        "<|object_ref_start|>km/h<|object_ref_end|><|box_start|><83><450><178><495><|box_end|>")
    assert sample.num_dropped == 1  # the text with "<"
    assert sample.extras["ignore"]["boxes"] == [[400.0, 1000.0, 500.0, 1100.0]]
    evaluation = run(OcrBoxTaskFn(task_prompts=[OCR_BOX_EVALUATION]), {"boxes": ann["boxes"][1:2]})
    assert evaluation.question == ("Can you detect all the text line in this image in box format like "
                                   "[x0, y0, x1, y1] and then recognize them?")


def test_ocr_polygon_prompt_answer_and_round_trip() -> None:
    # Given BL, BR, TR, TL (counter-clockwise on screen): written TL, TR, BR, BL.
    ann = {"polygons": [{"polygon": [87, 716, 306, 688, 302, 588, 83, 610], "phrase": "Hello Rachel,"},
                        {"polygon": [0, 0, 10, 10, 20, 20], "phrase": "line"}]}  # collinear: dropped
    sample = run(OcrPolygonTaskFn(), ann)
    assert sample.question == ("Can you detect all text line in this image in polygon format like "
                               "[x0, y0, x1, y1, x2, y2 ...] and then recognize them?")
    assert sample.answer == ("<|object_ref_start|>Hello Rachel,<|object_ref_end|><|box_start|>"
                             "<83><305><302><294><306><344><87><358><|box_end|>")
    group = parse_answer(sample.answer)[0]
    pixels = [dequantize(b, W if i % 2 == 0 else H) for i, b in enumerate(group.items[0].bins)]
    assert pixels == pytest.approx([83, 610, 302, 588, 306, 688, 87, 716], abs=2.1)
    assert sample.ground_truth["Hello Rachel,"]["polygons"] == [[83, 610, 302, 588, 306, 688, 87, 716]]
    assert sample.num_dropped == 1
    evaluation = run(OcrPolygonTaskFn(task_prompts=[OCR_POLYGON_EVALUATION]), ann)
    assert evaluation.question.startswith("Can you detect all the text line in this image in polygon format")


PERSON = ("nose, left eye, right eye, left ear, right ear, left shoulder, right shoulder, left elbow, right elbow, "
          "left wrist, right wrist, left hip, right hip, left knee, right knee, left ankle, right ankle")


def test_keypoint_prompt_answer_and_round_trip() -> None:
    ann = {"keypoints": [
        {"phrase": "person", "keypoint_type": "person", "bbox": [500, 400, 700, 1000],
         "keypoints": {"nose": [600, 500, 2], "left eye": [610, 480, 1], "right eye": [0, 0, 0]}},
        {"phrase": "person", "keypoint_type": "person", "bbox": [100, 400, 300, 1000],
         "keypoints": {"nose": [200, 500, 2]}}]}
    sample = run(KeypointTaskFn(), ann)
    assert sample.question == (f"Can you detect each person in the image using a [x0, y0, x1, y1] box format, and "
                               f"then provide the coordinates of its {PERSON} as [x0, y0]? Output the answer in JSON "
                               "format.")
    assert sample.answer.startswith('```json\n{\n    "person1": {\n        "bbox": " <100> <200> <300> <500> ",\n'
                                    '        "keypoints": {\n            "nose": " <200> <250> ",\n'
                                    '            "left eye": "unvisible",')
    assert sample.answer.endswith("}\n```")
    first, second = parse_keypoint_answer(sample.answer)
    assert first.bbox == (100, 200, 300, 500) and second.bbox == (500, 200, 700, 500)
    assert second.keypoints["nose"] == (600, 250) and second.keypoints["left eye"] == (610, 240)
    assert second.keypoints["right eye"] is None and len(second.keypoints) == 17
    assert sample.extras["keypoint_names"] == PERSON.split(", ")
    occluded = run(KeypointTaskFn(occluded_as_unvisible=True), ann)
    assert parse_keypoint_answer(occluded.answer)[1].keypoints["left eye"] is None


def test_keypoint_custom_names_and_negatives() -> None:
    ann = {"keypoint_names": ["head", "tail"],
           "keypoints": [{"phrase": "fish", "bbox": [0, 0, 100, 100], "keypoints": {"tail": [90, 50, 2], "head": [10, 50, 2]}}]}
    sample = run(KeypointTaskFn(), ann)
    assert "coordinates of its head, tail as [x0, y0]?" in sample.question
    assert list(parse_keypoint_answer(sample.answer)[0].keypoints) == ["head", "tail"]
    with pytest.raises(EmptySampleError):
        run(KeypointTaskFn(), {"keypoints": [{"phrase": "person", "bbox": None}]})


def test_gui_grounding_keeps_the_doubled_quote() -> None:
    ann = {"boxes": [{"bbox": [803, 850, 846, 924], "phrase": "more information of song 'Photograph'"}]}
    sample = run(GuiGroundingTaskFn(), ann)
    assert sample.question == 'Detect element "more information of song \'Photograph\'"" in the image.'
    assert sample.answer == ("<|object_ref_start|>more information of song 'Photograph'<|object_ref_end|>"
                             "<|box_start|><803><425><846><462><|box_end|>")
    corrected = run(GuiGroundingTaskFn(task_prompts=[GUI_GROUNDING_CORRECTED]), ann)
    assert corrected.question == 'Detect element "more information of song \'Photograph\'" in the image.'


def test_gui_pointing_uses_the_point_or_the_box_centre() -> None:
    ann = {"boxes": [{"bbox": [500, 1800, 524, 1936], "phrase": "pause current song"}]}
    sample = run(GuiPointingTaskFn(), ann)
    assert sample.question == 'Point to element "pause current song".'
    assert sample.answer.endswith("<|box_start|><512><934><|box_end|>")
    tutorial = run(GuiPointingTaskFn(task_prompts=[GUI_POINTING_TUTORIAL]),
                   {"points": [{"point": [100, 200], "phrase": "pause", "bbox": [0, 0, 300, 300]}]})
    assert tutorial.question == "Point to element 'pause'."
    assert tutorial.answer.endswith("<100><100><|box_end|>")


def test_referring_keeps_commas_and_answers_none_for_negatives() -> None:
    ann = {"boxes": [{"bbox": [0, 0, 100, 200], "phrase": "man in red, left"},
                     {"bbox": None, "phrase": "boy playing piano"}]}
    sample = run(ReferringTaskFn(), ann)
    assert sample.question in {
        "Detect man in red, left, boy playing piano. Output the bounding box coordinates in [x0, y0, x1, y1] format.",
        "Detect boy playing piano, man in red, left. Output the bounding box coordinates in [x0, y0, x1, y1] format.",
    }
    groups = {g.phrase: g for g in parse_answer(sample.answer)}
    assert groups["boy playing piano"].negative and groups["man in red, left"].items[0].bins == (0, 0, 100, 100)


def test_existing_annotations_still_parse_and_exemplars_skip_grounding() -> None:
    from dataset.task_fns import GroundingTaskFn

    ann = {"boxes": [{"bbox": [0, 0, 100, 200], "phrase": "dog"}], "visual_prompt": {"dog": [[0, 0, 100, 200]]}}
    sample = run(GroundingTaskFn(["Detect [OBJ]."]), ann)
    assert sample.answer.count("<0><0><100><100>") == 1
    assert json.loads(json.dumps(sample.ground_truth))["dog"]["boxes"] == [[0.0, 0.0, 100.0, 200.0]]


def test_hand_keypoint_prompt_lists_the_maintainers_21_joints() -> None:
    ann = {"keypoints": [{"phrase": "hand", "keypoint_type": "hand", "bbox": [0, 0, 100, 100],
                          "keypoints": {"wrist": [50, 90, 2]}}]}
    joints = ("wrist, thumb root, thumb's third knuckle, thumb's second knuckle, thumb's first knuckle, "
              "forefinger's root, forefinger's third knuckle, forefinger's second knuckle, forefinger's first knuckle, "
              "middle finger's root, middle finger's third knuckle, middle finger's second knuckle, "
              "middle finger's first knuckle, ring finger's root, ring finger's third knuckle, "
              "ring finger's second knuckle, ring finger's first knuckle, pinky finger's root, "
              "pinky finger's third knuckle, pinky finger's second knuckle, pinky finger's first knuckle")
    sample = run(KeypointTaskFn(), ann)
    assert sample.question == ("Can you detect each hand in the image using a [x0, y0, x1, y1] box format, and then "
                               f"provide the coordinates of its {joints} as [x0, y0]? Output the answer in JSON format.")

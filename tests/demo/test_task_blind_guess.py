"""The task demo's image-blind guesses: geometry helpers, per-task answers and the fitting, on hand-built samples."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from demo.task_blind_guess import (
    BlindGenerator,
    box_iou_matrix,
    copy_exemplars,
    densest_point,
    fit_blind_guess,
    medoid,
    ocr_candidates,
    oks_matrix,
)

BOX_START, BOX_END = "<|box_start|>", "<|box_end|>"
REF_START, REF_END = "<|object_ref_start|>", "<|object_ref_end|>"


@dataclass
class Sample:
    """The two fields of ``evaluation.evaluate.EvalSample`` the fitting reads, plus what scoring reads."""

    question: str
    ground_truth: dict[str, Any]
    index: int = 0
    name: str = "img"
    crowd: dict = None  # type: ignore[assignment]


def test_box_iou_matrix_by_hand() -> None:
    iou = box_iou_matrix(np.array([[0, 0, 2, 2], [1, 1, 3, 3], [5, 5, 6, 6]], dtype=float))
    assert iou[0, 1] == pytest.approx(1 / 7)  # intersection 1, union 4 + 4 - 1
    assert iou[0, 0] == 1 and iou[0, 2] == 0 and iou[1, 0] == pytest.approx(1 / 7)


def test_medoid_counts_rows_at_the_threshold() -> None:
    overlap = np.array([[1.0, 0.4, 0.5], [0.4, 1.0, 0.6], [0.5, 0.6, 1.0]])
    assert medoid(overlap) == (2, 3)  # row 2 reaches 0.5 three times, rows 0 and 1 twice


def test_densest_point_is_the_first_grid_point_in_most_boxes() -> None:
    boxes = np.array([[0, 0, 100, 100], [50, 50, 150, 150], [900, 900, 999, 999]], dtype=float)
    assert densest_point(boxes, step=5) == (50, 50)  # x, y in 50..100 lie in two boxes; (50, 50) comes first


def test_copy_exemplars_answers_the_prompt_boxes_under_its_key() -> None:
    question = ('Given reference boxes {"object_1": ["<1><2><3><4>", "<10><20><30><40>"]} indicating one or more '
                'objects, find all similar objects in the image and output their bounding boxes.')
    assert copy_exemplars(question) == f"{REF_START}object_1{REF_END}{BOX_START}<1><2><3><4>,<10><20><30><40>{BOX_END}"


def test_oks_matrix_by_hand() -> None:
    # Two one-joint figures 3 bins apart; figure 0's box area is 100 bins², figure 1's 400.
    figures = [{"xy": np.array([[0.0, 0.0]]), "visible": np.array([True]), "area": 100.0},
               {"xy": np.array([[3.0, 0.0]]), "visible": np.array([True]), "area": 400.0}]
    oks = oks_matrix(figures, sigma=0.5)
    assert oks[0, 1] == pytest.approx(math.exp(-9 / (2 * 0.25 * 100)))
    assert oks[1, 0] == pytest.approx(math.exp(-9 / (2 * 0.25 * 400)))
    assert oks[0, 0] == 1


def _ocr_gt(word: str, box: list[float]) -> dict[str, Any]:
    x0, y0, x1, y1 = box
    return {"image_size": [1000, 1000], "answer": {word: {"boxes": [box], "polygons": [[x0, y0, x1, y0, x1, y1, x0, y1]]}}}


def test_ocr_candidates_rank_words_by_medoid_hits() -> None:
    truths = [_ocr_gt("CAT", [100, 100, 300, 200]), _ocr_gt("CAT", [100, 100, 300, 200]),
              _ocr_gt("CAT", [600, 600, 800, 700]), _ocr_gt("DOG", [0, 0, 200, 100])]
    candidates = ocr_candidates(truths, polygons=False)
    # Bins of a 1000 px side: int(x / 1000 * 999), so 100 -> 99, 200 -> 199, 300 -> 299. The first CAT box
    # hits two CAT boxes; DOG's only box hits one.
    cat = f"{REF_START}CAT{REF_END}{BOX_START}<99><99><299><199>{BOX_END}"
    dog = f"{REF_START}DOG{REF_END}{BOX_START}<0><0><199><99>{BOX_END}"
    assert candidates == {"top 1 word(s) at their medoid": cat, "top 2 word(s) at their medoid": f"{cat}, {dog}"}


def _gui_sample(label: str, box: list[float]) -> Sample:
    phrase = f"click {label}"
    return Sample(f'Point to element "{phrase}".', {
        "reward_name": "gui_hit", "dataset_name": "toy", "image_size": [1000, 1000],
        "answer": {phrase: {"boxes": [box], "points": [[(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]], "masks": []}}})


def test_gui_guess_points_where_most_training_boxes_of_the_label_lie() -> None:
    samples = [_gui_sample("OK", [0, 0, 100, 100]), _gui_sample("OK", [50, 50, 150, 150]),
               _gui_sample("OK", [900, 900, 999, 999]), _gui_sample("Exit", [500, 500, 600, 600])]
    guess, info = fit_blind_guess("gui_pointing", samples)
    assert guess(samples[0].question) == f"{REF_START}click OK{REF_END}{BOX_START}<50><50>{BOX_END}"
    assert guess(samples[3].question) == f"{REF_START}click Exit{REF_END}{BOX_START}<500><500>{BOX_END}"
    # (50, 50) is in the first two OK boxes, not the third; (500, 500) is in the Exit box: 3 of 4 hit.
    assert info["train_scores"] == {"densest point per instruction": pytest.approx(0.75)}
    assert info["kept"] == "densest point per instruction" and info["metric"] == "mean_gui_hit_reward"


def test_blind_generator_never_reads_the_image() -> None:
    generator = BlindGenerator(lambda question: question.upper())
    assert generator.generate([None, None], ["a", "b"]) == ["A", "B"]  # type: ignore[list-item]


def test_unknown_task_is_refused() -> None:
    with pytest.raises(ValueError, match="task must be one of"):
        fit_blind_guess("grounding", [])


def test_cli_refuses_an_unwritable_output_and_a_missing_split_in_one_line(tmp_path, capsys) -> None:
    from demo.task_blind_guess import main
    from demo.task_toy_data import make_task_toy_dataset

    make_task_toy_dataset(str(tmp_path), "ocr_box", num_train=4, num_val=2, progress=False)
    train = str(tmp_path / "toy_ocr_box_train")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    common = ["--task", "ocr_box", "--train", train]
    with pytest.raises(SystemExit) as stopped:
        main([*common, "--split", train, "--output_dir", str(blocker / "out")])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().startswith("task_blind_guess: error: --output_dir")
    missing = str(tmp_path / "no_such_split")
    assert main([*common, "--split", missing, "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("task_blind_guess: error:") and "no_such_split" in err
    assert not (tmp_path / "out" / "blind_guess.json").exists()

"""Evaluation: detection F1 counts, the summary, atomic writes and questions from a training config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset.atomic_write import write_json_atomic
from dataset.grammar import parse_answer
from evaluation.evaluate import clean_output, detection_counts, summarise

GT = {"reward_name": "box_iou", "dataset_name": "t", "image_size": [999, 999],
      "answer": {"cat": {"boxes": [[0, 0, 100, 100], [200, 200, 300, 300]], "points": [], "masks": []},
                 "dog": {"boxes": [], "points": [], "masks": []}}}


def test_detection_counts_match_one_to_one_at_iou_half() -> None:
    text = ("<|object_ref_start|>cat<|object_ref_end|><|box_start|><0><0><100><100>,<0><0><100><100>,"
            "<600><600><700><700><|box_end|>")
    assert detection_counts(parse_answer(text), GT, "grounding") == (1, 3, 2)  # the duplicate is a FP


def test_a_box_under_another_phrase_is_no_match() -> None:
    """Per phrase, unlike the protocol (which pools an image's phrases): "dog" has no GT box."""
    text = "<|object_ref_start|>dog<|object_ref_end|><|box_start|><0><0><100><100><|box_end|>"
    assert detection_counts(parse_answer(text), GT, "grounding") == (0, 1, 2)


def test_points_inside_boxes() -> None:
    text = "<|object_ref_start|>cat<|object_ref_end|><|box_start|><50><50>,<250><250><|box_end|>"
    assert detection_counts(parse_answer(text), GT, "pointing") == (2, 2, 2)


def test_summary_and_atomic_write(tmp_path: Path) -> None:
    records = [{"tp": 1, "n_pred": 3, "n_gt": 2, "reward": 0.5, "parsed": True},
               {"tp": 0, "n_pred": 0, "n_gt": 1, "reward": 0.0, "parsed": False}]
    metrics = summarise(records, "grounding")
    assert metrics["box_f1@0.5"] == 2 * 1 / (3 + 3) and metrics["parse_rate"] == 0.5
    write_json_atomic(tmp_path / "m.json", metrics)
    assert json.loads((tmp_path / "m.json").read_text()) == metrics
    assert clean_output("abc<|im_end|>\nxyz") == "abc"


CONFIG = '''
from dataset.concat_dataset import ConcatDataset
from dataset.sft_dataset import {dataset}
from dataset.task_fns import {task_fn}
train_dataset = dict(type=ConcatDataset, datasets=[dict(type={dataset}, img_tsv_file="unused",
    ann_tsv_file="unused", ann_lineidx_file="unused", image_min_pixels=1, image_max_pixels=2,
    task_fn=dict(type={task_fn}, task_prompts=["Find [OBJ] now."]))])
'''


def _config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "cfg.py"
    path.write_text(body)
    return str(path)


def test_questions_come_from_the_config_task_fn(tmp_path: Path) -> None:
    from demo.toy_data import make_toy_datasets
    from evaluation.evaluate import iter_samples, task_fn_from_config

    make_toy_datasets(str(tmp_path / "toy"), num_train=1, num_val=4)
    split = str(tmp_path / "toy" / "toy_grounding_val")
    config = _config(tmp_path, CONFIG.format(dataset="GroundingTSVDataset", task_fn="GroundingTaskFn"))
    task_fn = task_fn_from_config(config, "grounding")
    questions = [s.question for s in iter_samples(split, "grounding", task_fn=task_fn)]
    assert len(questions) == 4
    assert all(q.startswith("Find ") and q.endswith(" now.") for q in questions)
    default = [s.question for s in iter_samples(split, "grounding")]
    for ours, theirs in zip(questions, default):  # same phrases, asked with the default's own templates
        assert ours[len("Find "):-len(" now.")] in theirs
    assert not any(q.startswith("Find ") for q in default)
    with pytest.raises(ValueError, match=r"cfg\.py.*GroundingTaskFn; --task pointing needs a PointingTaskFn"):
        task_fn_from_config(config, "pointing")
    empty = _config(tmp_path, "train_dataset = dict(type='X', datasets=[dict(type='Y')])\n")
    with pytest.raises(ValueError, match=r"cfg\.py: neither val_dataset nor train_dataset has a task_fn"):
        task_fn_from_config(empty, "grounding")


def test_cli_rejects_a_bad_config_before_loading_the_model(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from tools.evaluate import main

    missing = tmp_path / "missing.py"
    # --model does not exist either: the config error must come first, with exit code 2.
    assert main(["--model", str(tmp_path / "no_model"), "--split", "x", "--config", str(missing)]) == 2
    assert "missing.py" in capsys.readouterr().err
    config = _config(tmp_path, CONFIG.format(dataset="GroundingTSVDataset", task_fn="GroundingTaskFn"))
    assert main(["--model", str(tmp_path / "no_model"), "--split", "x", "--task", "pointing",
                 "--config", config]) == 2
    assert "needs a PointingTaskFn" in capsys.readouterr().err

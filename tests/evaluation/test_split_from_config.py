"""tools/evaluate.py --config without --split evaluates on the config's own val_dataset (of --task's kind)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.evaluate import val_split_from_config

REPO = Path(__file__).resolve().parents[2]


def test_the_val_dataset_tsv_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert val_split_from_config("configs/sft.py") == "work_dirs/toy_data/toy_grounding_val"
    assert val_split_from_config("configs/sft_pointing.py") == "work_dirs/toy_data/toy_pointing_val"


def test_a_config_without_val_dataset_names_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "mine.py"
    config.write_text('train_dataset = dict(type="X", ann_tsv_file="d/train.annotations.tsv")\n')
    with pytest.raises(ValueError, match="no val_dataset .* give --split"):
        val_split_from_config(str(config))


@pytest.mark.parametrize(("config", "task", "prefix"), [
    ("sft_tasks", "keypoint", "toy_keypoint_val"),
    ("sft_tasks", "gui_pointing", "toy_gui_val"),
    ("sft_tasks", "grounding", "toy_grounding_val"),
    ("grpo_tasks", "ocr_polygon", "toy_ocr_polygon_val"),
    ("sft", "grounding", "toy_grounding_val"),
])
def test_a_mixed_config_gives_the_val_dataset_of_the_task(monkeypatch: pytest.MonkeyPatch, config: str, task: str,
                                                          prefix: str) -> None:
    monkeypatch.chdir(REPO)
    assert val_split_from_config(f"configs/{config}.py", task) == f"work_dirs/toy_data/{prefix}"


def test_a_config_without_a_val_dataset_of_the_task_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(ValueError, match=r"configs/sft\.py: no val_dataset of --task keypoint .* give --split"):
        val_split_from_config("configs/sft.py", "keypoint")


@pytest.mark.parametrize(("task", "expected"), [("keypoint", "KeypointTaskFn"), ("gui_grounding", "GuiGroundingTaskFn"),
                                                ("gui_pointing", "GuiPointingTaskFn"), ("pointing", "PointingTaskFn")])
def test_a_mixed_config_asks_with_the_task_fn_of_the_task(task: str, expected: str) -> None:
    from evaluation.evaluate import task_fn_from_config

    assert type(task_fn_from_config(str(REPO / "configs" / "sft_tasks.py"), task)).__name__ == expected


def test_a_mixed_config_without_the_task_names_every_task_fn_it_has() -> None:
    from evaluation.evaluate import task_fn_from_config

    with pytest.raises(ValueError, match=r"sft_tasks\.py: the task_fns of val_dataset are GroundingTaskFn, "
                                         r"PointingTaskFn, VisualPromptTaskFn, KeypointTaskFn, OcrBoxTaskFn, "
                                         r"OcrPolygonTaskFn, GuiGroundingTaskFn, GuiPointingTaskFn; "
                                         r"--task referring needs a ReferringTaskFn$"):
        task_fn_from_config(str(REPO / "configs" / "sft_tasks.py"), "referring")


def test_the_cli_builds_the_config_task_fns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """--config without --split: the task function and the split come from one load of the config."""
    import evaluation.evaluate as evaluate

    monkeypatch.chdir(REPO)
    loads: list[str] = []
    real = evaluate._leaf_task_fns
    monkeypatch.setattr(evaluate, "_leaf_task_fns", lambda spec: loads.append("x") or real(spec))
    task_fn, split = evaluate.config_task("configs/sft_tasks.py", "ocr_box")
    assert type(task_fn).__name__ == "OcrBoxTaskFn" and split == "work_dirs/toy_data/toy_ocr_box_val"
    assert len(loads) == 2  # val_dataset and train_dataset, each built once
    assert evaluate.config_task("configs/sft_tasks.py", "ocr_box", with_split=False)[1] is None

"""evaluation/during_training.py: sharding of the validation questions over ranks, metric names for one and
several splits, scoring of answers already generated (GRPO) and the GT|prediction picture."""

from __future__ import annotations

import pytest
from PIL import Image

from dataset.grammar import compose_answer, quantize_box
from evaluation.during_training import answer_metrics, metrics_by_split, prediction_picture, rank_batches


def test_rank_batches_split_every_world_th_sample_and_match_batch_counts() -> None:
    # 5 samples over 2 ranks, 2 per batch: rank 0 answers 0, 2, 4; rank 1 answers 1, 3 (+ an empty batch).
    assert rank_batches(5, 0, 2, 2) == [[0, 2], [4]]
    assert rank_batches(5, 1, 2, 2) == [[1, 3], []]
    assert rank_batches(3, 0, 1, 8) == [[0, 1, 2]]
    assert rank_batches(0, 0, 2, 4) == []


def ground_truth(name: str, boxes: list[list[float]], reward: str = "box_iou") -> dict:
    return {"reward_name": reward, "dataset_name": name, "image_size": [100, 50],
            "answer": {"cat": {"boxes": boxes}}}


def perfect(boxes: list[list[float]]) -> str:
    return compose_answer([("cat", [quantize_box(b, 100, 50) for b in boxes])]) + "<|im_end|>"


def test_answer_metrics_of_a_perfect_and_an_empty_answer() -> None:
    boxes = [[10.0, 10.0, 40.0, 30.0], [50.0, 5.0, 90.0, 45.0]]
    metrics, grouped = answer_metrics([perfect(boxes), "no idea"], [ground_truth("a", boxes)] * 2, ["q1", "q2"])
    # Image 1: both boxes found (P = R = 1); image 2: nothing predicted (P = 0 by the protocol, R = 0).
    assert metrics["protocol_box_f1@0.5"] == pytest.approx(2 * 0.5 * 0.5 / (0.5 + 0.5))
    assert metrics["parse_rate"] == 0.5 and metrics["num_samples"] == 2
    assert metrics["box_f1@0.5"] == pytest.approx(2 * 2 / (2 + 4))  # pooled: 2 TP, 2 predictions, 4 GT
    assert [row["index"] for row in grouped["a"]] == [0, 1]


def test_several_datasets_are_named_and_averaged_and_unknown_rewards_left_out() -> None:
    boxes = [[10.0, 10.0, 40.0, 30.0]]
    truths = [ground_truth("a", boxes), ground_truth("b", boxes), ground_truth("c", boxes, reward="custom")]
    metrics, grouped = answer_metrics([perfect(boxes), "", perfect(boxes)], truths, ["q"] * 3)
    assert set(grouped) == {"a", "b"}
    assert metrics["a/protocol_box_mean_f1"] == pytest.approx(1.0) and metrics["b/protocol_box_mean_f1"] == 0.0
    assert metrics["protocol_box_mean_f1"] == pytest.approx(0.5)
    single = metrics_by_split({"a": grouped["a"]}, {"a": "grounding"})
    assert single["protocol_box_mean_f1"] == pytest.approx(1.0) and not any("/" in k for k in single)


def test_prediction_picture_puts_ground_truth_left_and_prediction_right() -> None:
    boxes = [[10.0, 10.0, 40.0, 30.0]]
    _, grouped = answer_metrics([perfect(boxes)], [ground_truth("a", boxes)], ["q"])
    small = Image.new("RGB", (50, 25), (0, 0, 0))  # a resized rollout image is drawn at the GT's 100 x 50
    picture = prediction_picture(small, grouped["a"][0])
    assert picture.width >= 2 * 100 + 4 and picture.height > 50
    # The box outline (the phrase colour) at the box's left edge (x 10 px, dequantised 9.9) in both panels.
    offset = (picture.width - 4) // 2 + 4  # two equal panels, 4 px apart
    left = {picture.getpixel((x, 20)) for x in (9, 10)}
    right = {picture.getpixel((offset + x, 20)) for x in (9, 10)}
    assert (31, 119, 180) in left and (31, 119, 180) in right


# task -> (toy set, task function, reward, the official metric that a perfect answer brings to 1).
TASK_SPLITS = {
    "keypoint": ("keypoint", "KeypointTaskFn", "keypoint_oks", "protocol_keypoint_mean_f1"),
    "gui_grounding": ("gui", "GuiGroundingTaskFn", "gui_hit", "protocol_gui_accuracy"),
    "ocr_box": ("ocr_box", "OcrBoxTaskFn", "ocr_box_iou", "protocol_box_f1@0.5"),
    "visual_prompt": ("visual_prompt", "VisualPromptTaskFn", "vp_box_iou", "protocol_box_f1@0.5"),
}


@pytest.fixture(scope="module")
def task_toy(tmp_path_factory: pytest.TempPathFactory):
    from demo.task_toy_data import make_task_toy_dataset

    root = tmp_path_factory.mktemp("task_toy")
    for toy, *_ in TASK_SPLITS.values():
        make_task_toy_dataset(str(root), toy, num_train=1, num_val=3, seed=0, progress=False)
    return root


def _loaded(root, task: str):
    """The first two validation samples of ``task``'s toy set as GRPO loads them (target answer, ground truth)."""
    from dataset import task_fns
    from dataset.sample_source import SampleSource
    from dataset.tsv import TsvPaths, TsvReader

    toy, task_fn, reward, _ = TASK_SPLITS[task]
    reader = TsvReader(*TsvPaths.from_prefix(root / f"toy_{toy}_val"))
    source = SampleSource(reader, getattr(task_fns, task_fn)(), f"toy_{task}_val", reward_name=reward)
    return [source.load(i) for i in range(2)]


@pytest.mark.parametrize("task", list(TASK_SPLITS))
def test_answers_of_every_task_get_its_protocol(task_toy, task: str) -> None:
    """GRPO validation rows of the other tasks: the training target as the answer scores 1 on the task's
    official metric, nothing answered scores 0; each dataset under its own name."""
    metric = TASK_SPLITS[task][3]
    perfect, empty = _loaded(task_toy, task)
    texts = [perfect.task.answer + "<|im_end|>", "<|im_end|>"]
    truths = [perfect.ground_truth, {**empty.ground_truth, "dataset_name": "other"}]
    metrics, grouped = answer_metrics(texts, truths, [perfect.task.question, empty.task.question])
    assert set(grouped) == {f"toy_{task}_val", "other"}
    assert metrics[f"toy_{task}_val/{metric}"] == pytest.approx(1.0)
    assert metrics[f"other/{metric}"] == 0.0
    assert metrics[f"toy_{task}_val/parse_rate"] == 1.0 and metrics["other/parse_rate"] == 0.0
    picture = prediction_picture(perfect.image, grouped[f"toy_{task}_val"][0])  # any task's row is drawn
    assert picture.width >= 2 * perfect.image.width and picture.height >= perfect.image.height


def test_val_splits_of_the_mixed_config_name_each_task(task_toy, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from dataset.config_checks import load_data_config
    from evaluation.during_training import val_splits

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(task_toy.parent)
    (task_toy.parent / "work_dirs").mkdir(exist_ok=True)
    link = task_toy.parent / "work_dirs" / "toy_data"
    if not link.exists():
        link.symlink_to(task_toy)
    cfg = load_data_config(repo / "configs" / "sft_tasks.py")
    wanted = [leaf for leaf in cfg.val_dataset.datasets
              if leaf.dataset_name in {f"toy_{task}_val" for task in TASK_SPLITS}]
    splits = val_splits([dict(leaf) for leaf in wanted])
    assert {split.name: split.task for split in splits} == {f"toy_{task}_val": task for task in TASK_SPLITS}

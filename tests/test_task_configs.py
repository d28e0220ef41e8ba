"""configs/sft_tasks.py and configs/grpo_tasks.py: the mixed-task configs load through the loaders the
trainers use, name one dataset per task with the task function and reward written out here by hand, and
build (SFT: a ConcatDataset of TSV datasets; GRPO: the trainer's build_datasets) on small toy sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

# dataset name -> (TSV stem, task function class name, reward name): the mixed configs' contract.
EXPECTED = {
    "toy_grounding": ("toy_grounding", "GroundingTaskFn", "box_iou"),
    "toy_pointing": ("toy_pointing", "PointingTaskFn", "point_in_box"),
    "toy_visual_prompt": ("toy_visual_prompt", "VisualPromptTaskFn", "vp_box_iou"),
    "toy_keypoint": ("toy_keypoint", "KeypointTaskFn", "keypoint_oks"),
    "toy_ocr_box": ("toy_ocr_box", "OcrBoxTaskFn", "ocr_box_iou"),
    "toy_ocr_polygon": ("toy_ocr_polygon", "OcrPolygonTaskFn", "polygon_iou"),
    "toy_gui_grounding": ("toy_gui", "GuiGroundingTaskFn", "gui_hit"),
    "toy_gui_pointing": ("toy_gui", "GuiPointingTaskFn", "gui_hit"),
}
NUM_TRAIN, NUM_VAL = 4, 2


def _load(name: str) -> dict[str, Any]:
    from dataset.config_checks import load_data_config
    from finetuning.arguments import load_mmengine_config

    path = str(REPO / "configs" / f"{name}.py")
    return (load_mmengine_config(path) if name.startswith("sft") else load_data_config(path)).to_dict()


def _leaves(spec: Any) -> list[dict[str, Any]]:
    return spec["datasets"] if isinstance(spec, dict) else list(spec)


def _described(leaf: dict[str, Any], split: str) -> tuple[str, tuple[str, str, str | None]]:
    """(train dataset name, (stem, task function class name, reward_name or None)) of one leaf."""
    name = leaf["dataset_name"] if split == "train" else leaf["dataset_name"].removesuffix("_val")
    prefix = f"work_dirs/toy_data/{EXPECTED[name][0]}_{split}"
    assert (leaf["img_tsv_file"], leaf["ann_tsv_file"], leaf["ann_lineidx_file"]) == (
        f"{prefix}.images.tsv", f"{prefix}.annotations.tsv", f"{prefix}.annotations.tsv.lineidx")
    return name, (EXPECTED[name][0], leaf["task_fn"]["type"].__name__, leaf.get("reward_name"))


@pytest.mark.parametrize("split", ["train", "val"])
def test_sft_tasks_names_every_task(split: str) -> None:
    cfg = _load("sft_tasks")
    leaves = _leaves(cfg[f"{split}_dataset"])
    assert cfg[f"{split}_dataset"]["type"].__name__ == "ConcatDataset"
    described = dict(_described(leaf, split) for leaf in leaves)
    assert described == {name: (stem, fn, None) for name, (stem, fn, _) in EXPECTED.items()}
    assert all(leaf["image_max_pixels"] == 64 * 28 * 28 for leaf in leaves)  # the demo's 112 px images
    if split == "train":
        assert {leaf.get("max_num_samples") for leaf in leaves} == {512}
    assert cfg["model_name_or_path"] == "work_dirs/models/rex-omni-demo"


@pytest.mark.parametrize("split", ["train", "val"])
def test_grpo_tasks_names_every_task_with_its_reward(split: str) -> None:
    leaves = _leaves(_load("grpo_tasks")[f"{split}_dataset"])
    assert dict(_described(leaf, split) for leaf in leaves) == EXPECTED
    assert {leaf["type"].__name__ for leaf in leaves} == {"TSVRLHFDataset"}
    assert {leaf.get("max_num_samples") for leaf in leaves} == ({512} if split == "train" else {None})


def test_every_reward_of_grpo_tasks_is_registered() -> None:
    from rewards import known_rewards

    assert {reward for _, _, reward in EXPECTED.values()} <= set(known_rewards())


@pytest.fixture(scope="module")
def launch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A launch directory whose work_dirs/toy_data holds every toy set, small, as the configs expect."""
    from demo.task_toy_data import TASK_SCENES, make_task_toy_dataset
    from demo.toy_data import make_toy_datasets

    root = tmp_path_factory.mktemp("launch_tasks")
    data = root / "work_dirs" / "toy_data"
    make_toy_datasets(str(data), num_train=NUM_TRAIN, num_val=NUM_VAL, image_size=(112, 112), seed=0)
    for task in TASK_SCENES:
        make_task_toy_dataset(str(data), task, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, progress=False)
    return root


def _names(concat: Any) -> list[str]:
    return [ds.name for ds in concat.datasets]


def test_sft_tasks_builds_one_dataset_per_task(tiny_model_dir: Path, launch_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoProcessor

    from dataset.registry import build

    processor = AutoProcessor.from_pretrained(str(tiny_model_dir))
    monkeypatch.chdir(launch_dir)
    cfg = _load("sft_tasks")
    train, val = (build(cfg[key], processor=processor, tokenizer=processor.tokenizer, seed=0)
                  for key in ("train_dataset", "val_dataset"))
    assert _names(train) == list(EXPECTED)
    assert _names(val) == [f"{name}_val" for name in EXPECTED]
    assert (len(train), len(val)) == (NUM_TRAIN * len(EXPECTED), NUM_VAL * len(EXPECTED))
    for position in range(0, len(train), NUM_TRAIN):  # the first sample of each task tokenises
        sample = train[position]
        assert sample["input_ids"].shape == sample["labels"].shape


def test_grpo_tasks_builds_with_each_reward(tiny_model_dir: Path, launch_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoProcessor

    from verl.trainer.config import DataConfig
    from verl.trainer.data_loader import build_datasets

    processor = AutoProcessor.from_pretrained(str(tiny_model_dir))
    monkeypatch.chdir(launch_dir)
    train, val = build_datasets(DataConfig(config_path=str(REPO / "configs" / "grpo_tasks.py"), format_prompt=None,
                                           seed=0), processor.tokenizer, processor)
    assert {ds.dataset_name: ds.reward_name for ds in train.datasets} == {
        name: reward for name, (_, _, reward) in EXPECTED.items()}
    assert {ds.dataset_name: ds.reward_name for ds in val.datasets} == {
        f"{name}_val": reward for name, (_, _, reward) in EXPECTED.items()}
    for position in range(0, len(train), NUM_TRAIN):  # each sample's ground truth carries its dataset's reward
        truth = train[position]["ground_truth"]
        assert EXPECTED[truth["dataset_name"]][2] == truth["reward_name"]

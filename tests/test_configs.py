"""configs/: the task configs with their ``_base_`` files resolve, through the loaders the trainers use, to
the values of the single-file configs they replaced (kept below as text), and build the same datasets.

The single-file configs double as the user config without ``_base_``: it must keep loading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ("sft", "sft_pointing", "grpo", "grpo_pointing")

# The four configs as they were before the `_base_` split, verbatim.
SINGLE_FILE: dict[str, str] = {}

SINGLE_FILE['sft'] = '''"""SFT on the toy grounding data (python tools/make_toy_data.py) with the demo model
(python tools/make_tiny_model.py --size demo). Swap the paths for real data and Rex-Omni.

Top-level keys that name a train.py argument (model_name_or_path, min_pixels, max_pixels, ...)
set it unless the same flag is given on the command line.
"""

from dataset.collator import DataCollatorForSupervisedDataset
from dataset.concat_dataset import ConcatDataset
from dataset.sft_dataset import GroundingTSVDataset
from dataset.task_fns import GroundingTaskFn
from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY

model_name_or_path = "work_dirs/models/rex-omni-demo"  # or "IDEA-Research/Rex-Omni"
# The demo toy images (112 px) keep their size: 4 x 4 = 16 visual tokens of 28 px; --preset varied
# images (224 px) give 8 x 8 = 64. For real data use the released limits: 16 * 28 * 28 and 2560 * 28 * 28.
min_pixels = 16 * 28 * 28
max_pixels = 64 * 28 * 28
data_root = "work_dirs/toy_data"

train_dataset = dict(
    type=ConcatDataset,
    datasets=[
        dict(
            type=GroundingTSVDataset,
            img_tsv_file=f"{data_root}/toy_grounding_train.images.tsv",
            ann_tsv_file=f"{data_root}/toy_grounding_train.annotations.tsv",
            ann_lineidx_file=f"{data_root}/toy_grounding_train.annotations.tsv.lineidx",
            image_min_pixels=min_pixels,
            image_max_pixels=max_pixels,
            task_fn=dict(
                type=GroundingTaskFn,
                task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY,
                max_negatives=0,  # demo: no absent phrases; a greedy `None` beats spread-out coordinate bins
                image_min_pixels=min_pixels,
                image_max_pixels=max_pixels,
            ),
            dataset_name="toy_grounding",
        )
    ],
)

val_dataset = dict(
    type=ConcatDataset,
    datasets=[
        dict(
            type=GroundingTSVDataset,
            img_tsv_file=f"{data_root}/toy_grounding_val.images.tsv",
            ann_tsv_file=f"{data_root}/toy_grounding_val.annotations.tsv",
            ann_lineidx_file=f"{data_root}/toy_grounding_val.annotations.tsv.lineidx",
            image_min_pixels=min_pixels,
            image_max_pixels=max_pixels,
            task_fn=dict(
                type=GroundingTaskFn,
                task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY,
                max_negatives=0,  # demo: no absent phrases; a greedy `None` beats spread-out coordinate bins
                image_min_pixels=min_pixels,
                image_max_pixels=max_pixels,
            ),
            dataset_name="toy_grounding_val",
        )
    ],
)

# FlattenedDataCollatorForSupervisedDataset packs batches; --data_flatten True selects it too.
data_collator = dict(type=DataCollatorForSupervisedDataset)
'''

SINGLE_FILE['sft_pointing'] = '''"""SFT on the toy pointing data (python tools/make_toy_data.py) with the demo model
(python tools/make_tiny_model.py --size demo). Swap the paths for real data and Rex-Omni.

Top-level keys that name a train.py argument (model_name_or_path, min_pixels, max_pixels, ...)
set it unless the same flag is given on the command line.
"""

from dataset.collator import DataCollatorForSupervisedDataset
from dataset.concat_dataset import ConcatDataset
from dataset.sft_dataset import PointingTSVDataset
from dataset.task_fns import PointingTaskFn
from dataset.task_fns.task_prompts import POINTING_TASK_PROMPTS

model_name_or_path = "work_dirs/models/rex-omni-demo"  # or "IDEA-Research/Rex-Omni"
# The demo toy images (112 px) keep their size: 4 x 4 = 16 visual tokens of 28 px; --preset varied
# images (224 px) give 8 x 8 = 64. For real data use the released limits: 16 * 28 * 28 and 2560 * 28 * 28.
min_pixels = 16 * 28 * 28
max_pixels = 64 * 28 * 28
data_root = "work_dirs/toy_data"

train_dataset = dict(
    type=ConcatDataset,
    datasets=[
        dict(
            type=PointingTSVDataset,
            img_tsv_file=f"{data_root}/toy_pointing_train.images.tsv",
            ann_tsv_file=f"{data_root}/toy_pointing_train.annotations.tsv",
            ann_lineidx_file=f"{data_root}/toy_pointing_train.annotations.tsv.lineidx",
            image_min_pixels=min_pixels,
            image_max_pixels=max_pixels,
            task_fn=dict(
                type=PointingTaskFn,
                task_prompts=POINTING_TASK_PROMPTS,
                max_negatives=0,  # demo: no absent phrases; a greedy `None` beats spread-out coordinate bins
                image_min_pixels=min_pixels,
                image_max_pixels=max_pixels,
            ),
            dataset_name="toy_pointing",
        )
    ],
)

val_dataset = dict(
    type=ConcatDataset,
    datasets=[
        dict(
            type=PointingTSVDataset,
            img_tsv_file=f"{data_root}/toy_pointing_val.images.tsv",
            ann_tsv_file=f"{data_root}/toy_pointing_val.annotations.tsv",
            ann_lineidx_file=f"{data_root}/toy_pointing_val.annotations.tsv.lineidx",
            image_min_pixels=min_pixels,
            image_max_pixels=max_pixels,
            task_fn=dict(
                type=PointingTaskFn,
                task_prompts=POINTING_TASK_PROMPTS,
                max_negatives=0,  # demo: no absent phrases; a greedy `None` beats spread-out coordinate bins
                image_min_pixels=min_pixels,
                image_max_pixels=max_pixels,
            ),
            dataset_name="toy_pointing_val",
        )
    ],
)

# FlattenedDataCollatorForSupervisedDataset packs batches; --data_flatten True selects it too.
data_collator = dict(type=DataCollatorForSupervisedDataset)
'''

SINGLE_FILE['grpo'] = '''# GRPO grounding data (mmengine config; read by verl/trainer/data_loader.py via data.config_path).
# Paths are relative to the repository root (the launch directory). Toy data: tools/make_toy_data.py.
from dataset.task_fns import GroundingTaskFn
from dataset.task_fns.task_prompts.grounding_task import GROUNDING_SINGLE_REGION_STAGE_XYXY
from verl.utils.dataset import TSVRLHFDataset

min_pixels = 16 * 28 * 28
max_pixels = 2560 * 28 * 28
data_root = "work_dirs/toy_data"

grounding_task_fn = dict(
    type=GroundingTaskFn,
    task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY,
    image_min_pixels=min_pixels,
    image_max_pixels=max_pixels,
)

train_dataset = [
    dict(
        type=TSVRLHFDataset,
        img_tsv_file=f"{data_root}/toy_grounding_train.images.tsv",
        ann_tsv_file=f"{data_root}/toy_grounding_train.annotations.tsv",
        ann_lineidx_file=f"{data_root}/toy_grounding_train.annotations.tsv.lineidx",
        image_min_pixels=min_pixels,
        image_max_pixels=max_pixels,
        task_fn=grounding_task_fn,
        dataset_name="toy_grounding",
        reward_name="box_iou",
    ),
]

val_dataset = [
    dict(
        type=TSVRLHFDataset,
        img_tsv_file=f"{data_root}/toy_grounding_val.images.tsv",
        ann_tsv_file=f"{data_root}/toy_grounding_val.annotations.tsv",
        ann_lineidx_file=f"{data_root}/toy_grounding_val.annotations.tsv.lineidx",
        image_min_pixels=min_pixels,
        image_max_pixels=max_pixels,
        task_fn=grounding_task_fn,
        dataset_name="toy_grounding_val",
        reward_name="box_iou",
    ),
]
'''

SINGLE_FILE['grpo_pointing'] = '''# GRPO pointing data (mmengine config): the same toy images scored by point_in_box and point_in_mask.
# The toy pointing annotations carry a point, its box and its COCO-RLE mask per object.
from dataset.task_fns import PointingTaskFn
from dataset.task_fns.task_prompts.pointing_task import POINTING_TASK_PROMPTS
from verl.utils.dataset import TSVRLHFDataset

min_pixels = 16 * 28 * 28
max_pixels = 2560 * 28 * 28
data_root = "work_dirs/toy_data"

pointing_task_fn = dict(
    type=PointingTaskFn,
    task_prompts=POINTING_TASK_PROMPTS,
    image_min_pixels=min_pixels,
    image_max_pixels=max_pixels,
)


def _pointing(split: str, reward_name: str) -> dict:
    stem = f"{data_root}/toy_pointing_{split}"
    return dict(
        type=TSVRLHFDataset,
        img_tsv_file=f"{stem}.images.tsv",
        ann_tsv_file=f"{stem}.annotations.tsv",
        ann_lineidx_file=f"{stem}.annotations.tsv.lineidx",
        image_min_pixels=min_pixels,
        image_max_pixels=max_pixels,
        task_fn=pointing_task_fn,
        dataset_name=f"toy_pointing_{reward_name}",
        reward_name=reward_name,
    )


train_dataset = [_pointing("train", "point_in_box"), _pointing("train", "point_in_mask")]
val_dataset = [_pointing("val", "point_in_box")]
'''


def _load(path: Path) -> dict[str, Any]:
    """The config as the trainer of its stage reads it (SFT: ``finetuning.arguments.load_mmengine_config``;
    GRPO: ``load_data_config``, which ``build_datasets`` and ``check_data_files`` call)."""
    from dataset.config_checks import load_data_config
    from finetuning.arguments import load_mmengine_config

    return (load_mmengine_config(str(path)) if path.name.startswith("sft") else load_data_config(path)).to_dict()


def _write_single_files(folder: Path) -> Path:
    for name, text in SINGLE_FILE.items():
        (folder / f"{name}.py").write_text(text)
    return folder


@pytest.mark.parametrize("name", CONFIGS)
def test_task_config_resolves_to_the_single_file_values(name: str, tmp_path: Path) -> None:
    from mmengine.config import Config

    from finetuning.arguments import ARG_CLASSES

    before = _load(_write_single_files(tmp_path) / f"{name}.py")
    after = _load(REPO / "configs" / f"{name}.py")
    assert {key: after.get(key) for key in before} == before
    task_fn_key = "pointing_task_fn" if "pointing" in name else "grounding_task_fn"
    assert set(after) - set(before) <= {task_fn_key}  # no new key can set a train.py argument
    assert not set(after) - set(before) & {f for cls in ARG_CLASSES for f in cls.__dataclass_fields__}
    # mmengine's own default (lazy-import detection) reads them too: the `_base_` line comes first
    assert Config.fromfile(str(REPO / "configs" / f"{name}.py")).to_dict() == after


def test_resolved_values_by_hand() -> None:
    sft, grpo_pointing = _load(REPO / "configs" / "sft.py"), _load(REPO / "configs" / "grpo_pointing.py")
    assert (sft["min_pixels"], sft["max_pixels"], grpo_pointing["max_pixels"]) == (12544, 50176, 2007040)
    assert sft["model_name_or_path"] == "work_dirs/models/rex-omni-demo"
    leaf = sft["train_dataset"]["datasets"][0]
    assert leaf["ann_lineidx_file"] == "work_dirs/toy_data/toy_grounding_train.annotations.tsv.lineidx"
    assert (leaf["image_max_pixels"], leaf["task_fn"]["image_max_pixels"], leaf["task_fn"]["max_negatives"]) == (
        50176, 50176, 0)
    assert [(d["dataset_name"], d["reward_name"], d["img_tsv_file"]) for d in grpo_pointing["train_dataset"]] == [
        ("toy_pointing_point_in_box", "point_in_box", "work_dirs/toy_data/toy_pointing_train.images.tsv"),
        ("toy_pointing_point_in_mask", "point_in_mask", "work_dirs/toy_data/toy_pointing_train.images.tsv"),
    ]
    assert "max_negatives" not in grpo_pointing["val_dataset"][0]["task_fn"]


def _same(a: Any, b: Any) -> bool:
    """Equal samples: tensors element-wise, containers item by item."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


@pytest.fixture(scope="module")
def launch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A launch directory whose work_dirs/toy_data holds a small toy set, as the configs expect."""
    from demo.toy_data import make_toy_datasets

    root = tmp_path_factory.mktemp("launch")
    make_toy_datasets(root / "work_dirs" / "toy_data", num_train=4, num_val=2, image_size=(112, 112), seed=0)
    return root


@pytest.mark.parametrize("name", CONFIGS)
def test_task_config_builds_the_single_file_datasets(name: str, tiny_model_dir: Path, launch_dir: Path,
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoProcessor

    from dataset.registry import build
    from verl.trainer.config import DataConfig
    from verl.trainer.data_loader import build_datasets

    processor = AutoProcessor.from_pretrained(str(tiny_model_dir))
    monkeypatch.chdir(launch_dir)
    built = []
    for path in (_write_single_files(tmp_path) / f"{name}.py", REPO / "configs" / f"{name}.py"):
        if name.startswith("grpo"):  # the GRPO trainer's builder
            built.append(build_datasets(DataConfig(config_path=str(path), format_prompt=None, seed=0),
                                        processor.tokenizer, processor))
        else:  # what finetuning/train.py builds from the config
            cfg = _load(path)
            built.append(tuple(build(cfg[key], processor=processor, tokenizer=processor.tokenizer, seed=0)
                               for key in ("train_dataset", "val_dataset")))
    for before, after in zip(*built):
        assert len(before) == len(after) > 0
        assert all(_same(before[i], after[i]) for i in range(len(before)))

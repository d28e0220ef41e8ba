"""Fixtures for the SFT tests: the test-size model and small toy data, built once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

CONFIG_TEMPLATE = '''
from dataset.collator import DataCollatorForSupervisedDataset
from dataset.concat_dataset import ConcatDataset
from dataset.sft_dataset import {dataset}
from dataset.task_fns import {task_fn}
from dataset.task_fns.task_prompts import {prompts}

model_name_or_path = "{model}"
min_pixels = 4 * 28 * 28
max_pixels = 16 * 28 * 28
train_dataset = dict(
    type=ConcatDataset,
    datasets=[dict(
        type={dataset},
        img_tsv_file="{prefix}.images.tsv",
        ann_tsv_file="{prefix}.annotations.tsv",
        ann_lineidx_file="{prefix}.annotations.tsv.lineidx",
        image_min_pixels=min_pixels,
        image_max_pixels=max_pixels,
        task_fn=dict(type={task_fn}, task_prompts={prompts}),
        dataset_name="{name}",
    )],
)
data_collator = dict(type=DataCollatorForSupervisedDataset)
learning_rate = {lr}
'''


@pytest.fixture(scope="session")
def toy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small toy grounding/pointing splits (32 train, 8 val images of 112 px)."""
    from demo.toy_data import make_toy_datasets

    out = tmp_path_factory.mktemp("toy")
    make_toy_datasets(str(out), num_train=32, num_val=8, image_size=(112, 112), seed=0)
    return out


def write_config(folder: Path, model: Path, toy: Path | None = None, task: str = "grounding", lr: float = 3e-3,
                 prefix: Path | None = None, name: str = "toy") -> Path:
    """An SFT config over the TSV triple ``prefix`` (default: the toy ``task`` train split of ``toy``) with
    ``model``; returns its path."""
    names: dict[str, Any] = {
        "grounding": ("GroundingTSVDataset", "GroundingTaskFn", "GROUNDING_SINGLE_REGION_STAGE_XYXY"),
        "pointing": ("PointingTSVDataset", "PointingTaskFn", "POINTING_TASK_PROMPTS"),
    }[task]
    if prefix is None:
        if toy is None:
            raise ValueError("write_config needs toy or prefix")
        prefix = toy / f"toy_{task}_train"
    text = CONFIG_TEMPLATE.format(dataset=names[0], task_fn=names[1], prompts=names[2], model=model,
                                  prefix=prefix, lr=lr, name=name)
    path = folder / f"sft_{task}.py"
    path.write_text(text)
    return path


@pytest.fixture()
def tiny_config(tmp_path: Path, tiny_model_dir: Path, toy_dir: Path) -> Path:
    """Path of a grounding config over the toy data with the test model."""
    return write_config(tmp_path, tiny_model_dir, toy_dir)


def assert_reloads_and_generates(folder: Path, toy: Path) -> None:
    """``folder`` is a complete HF model folder: it loads offline, has ``use_cache`` on and generates."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from dataset.chat import render_prompt
    from dataset.tsv import TsvPaths, TsvReader

    assert (folder / "model.safetensors").is_file() and (folder / "chat_template.jinja").is_file()
    processor = AutoProcessor.from_pretrained(folder)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder).eval()
    assert model.config.get_text_config().use_cache
    image, _ = TsvReader(*TsvPaths.from_prefix(toy / "toy_grounding_val")).read(0)
    inputs = processor(text=[render_prompt(processor, "Detect red circle.")], images=[image], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


@pytest.fixture()
def reloads_and_generates(toy_dir: Path) -> Callable[[Path], None]:
    """``check(folder)``: asserts the saved folder reloads offline and generates on a toy val image."""
    return lambda folder: assert_reloads_and_generates(folder, toy_dir)

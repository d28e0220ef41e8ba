"""Fixtures for the TSV, converter, visualiser and toy-data tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dataset.tsv import TsvPaths
from demo.toy_data import make_toy_datasets


def _image(mode: str, size: tuple[int, int] = (40, 30)) -> Image.Image:
    rng = np.random.default_rng(len(mode))
    rgb = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8), "RGB")
    if mode == "P":
        return rgb.quantize(16)
    if mode == "PT":  # palette with a transparent index
        img = rgb.quantize(16)
        img.info["transparency"] = 0
        return img
    return rgb.convert(mode)


# (file name, mode, PIL save format): greyscale, RGBA, palette and PNG/JPEG inputs.
JSONL_IMAGES = [
    ("rgb.jpg", "RGB", "JPEG"),
    ("sub/rgb.png", "RGB", "PNG"),
    ("grey.png", "L", "PNG"),
    ("grey.jpg", "L", "JPEG"),
    ("rgba.png", "RGBA", "PNG"),
    ("palette.png", "P", "PNG"),
    ("palette_transparent.png", "PT", "PNG"),
]


@pytest.fixture
def jsonl_dataset(tmp_path: Path) -> tuple[Path, Path, list[tuple[str, dict[str, Any]]]]:
    """A valid JSONL + image folder covering several image modes; returns (jsonl, root, records)."""
    root = tmp_path / "images"
    records = []
    for i, (name, mode, fmt) in enumerate(JSONL_IMAGES):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _image(mode).save(path, format=fmt)
        ann = {"boxes": [{"bbox": [1, 2, 10 + i, 20], "phrase": f"ding {i} — ünïcode 猫"}, {"bbox": None, "phrase": "x"}]}
        records.append((name, ann))
    jsonl = tmp_path / "data.jsonl"
    text = "\n".join(json.dumps({"image_name": n, "annotation": a}) for n, a in records)
    jsonl.write_text(text + "\n\n", encoding="utf-8")  # trailing blank line must be ignored
    return jsonl, root, records


@pytest.fixture
def triple_paths(tmp_path: Path) -> TsvPaths:
    """Output paths for one TSV triple under tmp_path/out."""
    out = tmp_path / "out"
    return TsvPaths(str(out / "d.images.tsv"), str(out / "d.annotations.tsv"), str(out / "d.annotations.tsv.lineidx"))


def check_triple_offsets(paths: TsvPaths) -> list[tuple[int, bytes, bytes]]:
    """Verify every offset of a triple by independent seeks; returns (image offset, base64, json) per sample."""
    offsets = [int(line) for line in Path(paths.lineidx).read_bytes().splitlines()]
    samples = []
    with open(paths.ann_tsv, "rb") as ann_fh, open(paths.image_tsv, "rb") as img_fh:
        for i, offset in enumerate(offsets):
            ann_fh.seek(offset)
            assert offset == 0 or _byte_before(ann_fh, offset) == b"\n", f"sample {i} offset not at line start"
            img_off_text, ann_json = ann_fh.readline().rstrip(b"\n").split(b"\t")
            img_off = int(img_off_text)
            img_fh.seek(img_off)
            assert img_off == 0 or _byte_before(img_fh, img_off) == b"\n"
            own_off, b64 = img_fh.readline().rstrip(b"\n").split(b"\t")
            assert int(own_off) == img_off  # images.tsv col0 is the line's own offset
            samples.append((img_off, b64, ann_json))
    assert len(offsets) == len(Path(paths.ann_tsv).read_bytes().splitlines())
    return samples


def _byte_before(fh: Any, offset: int) -> bytes:
    fh.seek(offset - 1)
    byte = fh.read(1)
    fh.seek(offset)
    return byte


@pytest.fixture
def triple_checker() -> Callable[[TsvPaths], list[tuple[int, bytes, bytes]]]:
    """The independent-seek offset checker, as a fixture so other test files can use it."""
    return check_triple_offsets


# --- SFT dataset / collator fixtures (test_sft_dataset.py, test_collator.py, test_concat_dataset.py) ---

SFT_MIN_PIXELS = 16 * 28 * 28
SFT_MAX_PIXELS = 256 * 28 * 28
SFT_TOY_IMAGE_SIZE = (224, 168)  # width, height: not square, so a transposed grid would show


@pytest.fixture(scope="session")
def processor(tiny_model_dir: Path) -> Any:
    """The tiny model's ``Qwen2_5_VLProcessor``."""
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="session")
def sft_toy_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Toy grounding/pointing TSVs (24 train, 4 val images of 224x168), built once per session."""
    out = tmp_path_factory.getbasetemp() / "sft_toy_data"
    return make_toy_datasets(str(out), num_train=24, num_val=4, image_size=SFT_TOY_IMAGE_SIZE, seed=0)


@pytest.fixture(scope="session")
def sft_dataset_cfg() -> Callable[..., dict[str, Any]]:
    """``cfg(paths, task="grounding", **overrides)``: a dataset config as a config file writes it."""
    from dataset.task_fns import GroundingTaskFn, PointingTaskFn
    from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY, POINTING_TASK_PROMPTS

    def cfg(paths: TsvPaths, task: str = "grounding", **overrides: Any) -> dict[str, Any]:
        grounding = task == "grounding"
        out: dict[str, Any] = dict(
            type="GroundingTSVDataset" if grounding else "PointingTSVDataset",
            img_tsv_file=paths.image_tsv,
            ann_tsv_file=paths.ann_tsv,
            ann_lineidx_file=paths.lineidx,
            image_min_pixels=SFT_MIN_PIXELS,
            image_max_pixels=SFT_MAX_PIXELS,
            task_fn=dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY)
            if grounding
            else dict(type=PointingTaskFn, task_prompts=POINTING_TASK_PROMPTS),
            dataset_name=f"toy_{task}",
        )
        out.update(overrides)
        return out

    return cfg


@pytest.fixture(scope="session")
def make_sft_dataset(sft_dataset_cfg: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
    """``make(paths, processor, task="grounding", **overrides)``: build a dataset via BUILDER."""
    import dataset.sft_dataset  # noqa: F401  (registers the dataset classes)
    from dataset.registry import BUILDER

    def make(paths: TsvPaths, processor: Any, task: str = "grounding", **overrides: Any) -> Any:
        return BUILDER.build(sft_dataset_cfg(paths, task, processor=processor, **overrides))

    return make

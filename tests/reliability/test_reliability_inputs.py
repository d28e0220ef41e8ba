"""Input mistakes a newcomer makes: one line naming the fix (exit 2) before any heavy work, or skipped and
counted like the converter does."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from PIL import Image
from reliability_helpers import write_triple

REPO = Path(__file__).resolve().parents[2]


def write_coco(folder: Path, num_images: int, missing: set[int]) -> Path:
    """A COCO instances JSON with one 40x20 box per 64x64 image; images in ``missing`` get no file."""
    images, annotations = [], []
    for i in range(num_images):
        images.append({"id": i + 1, "file_name": f"img{i}.png", "width": 64, "height": 64})
        annotations.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [4, 4, 40, 20],
                            "area": 800, "iscrowd": 0})
        if i not in missing:
            Image.new("RGB", (64, 64), (10 * i, 80, 80)).save(folder / f"img{i}.png")
    path = folder / "coco.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "box"}]}))
    return path


def test_evaluate_coco_split_skips_and_counts_missing_images(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from evaluation.sources import open_split

    path = write_coco(tmp_path, 4, missing={1, 3})
    with caplog.at_level(logging.WARNING):
        split = open_split(str(path), str(tmp_path))
    assert [split.image_name(i) for i in range(len(split))] == ["img0.png", "img2.png"]
    assert "2 bad or missing one(s)" in caplog.text and "img1.png" in caplog.text and "img3.png" in caplog.text
    assert split.read(1).image.size == (64, 64)  # every kept image reads


def test_evaluate_coco_split_with_no_image_file_is_one_line(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from tools.evaluate import main as evaluate

    path = write_coco(tmp_path, 2, missing={0, 1})
    model = tmp_path / "model"
    model.mkdir()
    assert evaluate(["--model", str(model), "--split", str(path), "--image_root", str(tmp_path),
                     "--output_dir", str(tmp_path / "eval")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no usable image with an image file" in err


def grpo_check(tmp_path: Path, *overrides: str) -> int:
    """``verl.trainer.main --check`` on a 3-sample TSV data config and a stand-in model folder."""
    from verl.trainer.main import main

    paths = write_triple(tmp_path)
    config = tmp_path / "grpo_data.py"
    entry = dict(type="TSVRLHFDataset", img_tsv_file=paths.image_tsv, ann_tsv_file=paths.ann_tsv,
                 ann_lineidx_file=paths.lineidx, dataset_name="mine")
    config.write_text(f"train_dataset = [{entry!r}]\n")
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    return main(["--check", "--skip_model_check", f"config={REPO}/verl/configs/config.yaml",
                 f"data.config_path={config}", f"worker.actor.model.model_path={model}",
                 "trainer.n_gpus_per_node=1", "worker.rollout.tensor_parallel_size=1", "worker.rollout.n=2",
                 "worker.actor.micro_batch_size_per_device_for_update=4",
                 "worker.actor.micro_batch_size_per_device_for_experience=4", *overrides])


def test_grpo_dataset_smaller_than_the_rollout_batch_is_one_line_before_ray(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert grpo_check(tmp_path, "data.rollout_batch_size=4", "worker.actor.global_batch_size=4") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "4 prompts per step" in err and "has 3 training samples" in err
    assert "ROLLOUT_BATCH_SIZE=3 bash scripts/grpo.sh" in err and "data.rollout_batch_size=3" in err
    assert grpo_check(tmp_path, "data.rollout_batch_size=2", "worker.actor.global_batch_size=2") == 0


def test_grpo_micro_batch_errors_name_the_launcher_variable_and_the_override(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # per-device update batch = global 2 * n 2 / dp 1 = 4; 3 does not divide it, 2 (the largest divisor <= 3) does.
    assert grpo_check(tmp_path, "data.rollout_batch_size=2", "worker.actor.global_batch_size=2",
                      "worker.actor.micro_batch_size_per_device_for_update=3") == 2
    err = capsys.readouterr().err.strip()
    assert "MICRO_UPDATE=2 bash scripts/grpo.sh" in err
    assert "worker.actor.micro_batch_size_per_device_for_update=2" in err
    assert grpo_check(tmp_path, "data.rollout_batch_size=2", "worker.actor.global_batch_size=2",
                      "worker.actor.micro_batch_size_per_device_for_experience=3") == 2
    err = capsys.readouterr().err.strip()
    assert "MICRO_EXPERIENCE=2 bash scripts/grpo.sh" in err
    assert "worker.actor.micro_batch_size_per_device_for_experience=2" in err


def test_train_py_flag_typo_gets_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    from finetuning.check_args import main as check_args

    assert check_args(["--skip_model_check", "--learnig_rate", "1e-4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean '--learning_rate'?" in err

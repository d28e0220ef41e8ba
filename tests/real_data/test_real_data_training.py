"""Each converted format trains: a few SFT steps of the test-size model on its TSV triple."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from dataset.real_data import SourceOptions, convert_records, iter_source_records
from finetuning.arguments import parse_args
from finetuning.train import run_training, setup_logging
from tests.finetuning.conftest import write_config

pytestmark = pytest.mark.slow

@pytest.mark.parametrize(("fmt", "ann", "task", "extra"), [
    ("coco", "coco.json", "grounding", {}),
    ("coco", "coco.json", "pointing", {}),
    ("lvis", "lvis.json", "grounding", {}),
    ("refcoco", "coco.json", "pointing", {"refs_file": "refs.json"}),
    ("odvg", "odvg_ground.jsonl", "grounding", {}),
])
def test_converted_format_trains(real_sources: dict[str, Any], tiny_model_dir: Path, tmp_path: Path,
                                 fmt: str, ann: str, task: str, extra: dict[str, str]) -> None:
    root = real_sources["root"]
    options = SourceOptions(format=fmt, ann_file=str(root / ann), **{k: str(root / v) for k, v in extra.items()})
    prefix = tmp_path / fmt
    stats = convert_records(iter_source_records(options), str(real_sources["images"]), tsv_prefix=str(prefix),
                            progress=False)
    assert stats.num_written >= 6
    config = write_config(tmp_path, tiny_model_dir, task=task, lr=1e-3, prefix=prefix, name=fmt)
    args = parse_args(["--config", str(config), "--output_dir", str(tmp_path / "run"), "--max_steps", "3",
                       "--tune_mm_llm", "True", "--tune_mm_mlp", "True",
                       "--per_device_train_batch_size", "2", "--logging_steps", "1", "--save_strategy", "no",
                       "--report_to", "none", "--disable_tqdm", "True", "--seed", "0"])
    setup_logging(args[2])
    trainer = run_training(*args)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(math.isfinite(x) and x > 0 for x in losses)

"""tools/evaluate.py --config without --split evaluates on the config's own val_dataset."""

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

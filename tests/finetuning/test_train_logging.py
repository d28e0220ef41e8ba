"""finetuning/train.py's setup_logging: transformers' configuration dumps stay out of the log, warnings stay in."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import transformers
from transformers import TrainingArguments

from finetuning.train import setup_logging


@pytest.fixture(autouse=True)
def _restore_logging():
    verbosity = transformers.utils.logging.get_verbosity()
    trainer_level = logging.getLogger("transformers.trainer").level
    yield
    transformers.utils.logging.set_verbosity(verbosity)
    logging.getLogger("transformers.trainer").setLevel(trainer_level)


def test_default_verbosity_hides_configuration_dumps(tmp_path: Path) -> None:
    setup_logging(TrainingArguments(output_dir=str(tmp_path), report_to="none"))
    dumps = logging.getLogger("transformers.configuration_utils")  # where "Model config Qwen2_5_VLConfig {..." comes from
    assert not dumps.isEnabledFor(logging.INFO)
    assert dumps.isEnabledFor(logging.WARNING)
    assert logging.getLogger("transformers.modeling_utils").isEnabledFor(logging.WARNING)
    assert logging.getLogger("transformers.trainer").isEnabledFor(logging.INFO)  # the run banner stays
    assert logging.getLogger("finetuning.train").isEnabledFor(logging.INFO)


def test_log_level_info_brings_them_back(tmp_path: Path) -> None:
    setup_logging(TrainingArguments(output_dir=str(tmp_path), report_to="none", log_level="info"))
    assert logging.getLogger("transformers.configuration_utils").isEnabledFor(logging.INFO)

"""Session-wide test set-up: offline hub, quiet tokenizers, deterministic CPU threads."""

import os
from pathlib import Path

import pytest

# huggingface_hub reads these once, at first import, so they must be set before anything imports it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DS_ACCELERATOR", "cpu")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def published_model_dir() -> Path:
    """A test-size Rex-Omni in the published checkpoint's file layout, in
    work_dirs/models/rex-omni-test-published (built in seconds; cached across sessions)."""
    from finetuning.tiny_model import build_tiny_rex_omni

    return build_tiny_rex_omni(REPO_ROOT / "work_dirs" / "models" / "rex-omni-test-published", size="test",
                               layout="published")

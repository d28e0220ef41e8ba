"""Session-wide test set-up: offline hub, quiet tokenizers; the fixtures every test folder shares,
built once per session (the test-size model, a small toy dataset)."""

import os
from pathlib import Path
from typing import Any

import pytest

# huggingface_hub reads these once, at first import, so they must be set before anything imports it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DS_ACCELERATOR", "cpu")


def pytest_configure(config: pytest.Config) -> None:
    # Registered here rather than in pyproject.toml (a pyproject change makes scripts/setup_env.sh reinstall).
    config.addinivalue_line("markers", "multinode: two-node runs on this machine (a two-node Ray cluster, two "
                            "torchrun nodes); run them alone with `pytest -m multinode`")
    config.addinivalue_line("markers", "task_demo: the short task demo on the mixed-task config (SFT, then "
                            "evaluate.py --task per task); run it alone with `pytest -m task_demo`")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test-size Rex-Omni (0.23M parameters, seed 0), built once per session (offline)."""
    from demo.tiny_model import build_tiny_rex_omni

    return build_tiny_rex_omni(tmp_path_factory.getbasetemp() / "rex-omni-test", size="test", seed=0)


@pytest.fixture(scope="session")
def small_toy_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny toy dataset (12 train / 4 val images of 64x64), built once per session."""
    from demo.toy_data import make_toy_datasets

    return make_toy_datasets(str(tmp_path_factory.mktemp("toy")), num_train=12, num_val=4, image_size=64, seed=3)


REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def published_model_dir() -> Path:
    """A test-size Rex-Omni in the published checkpoint's file layout, in
    work_dirs/models/rex-omni-test-published (built in seconds; cached across sessions)."""
    from demo.tiny_model import build_tiny_rex_omni

    return build_tiny_rex_omni(REPO_ROOT / "work_dirs" / "models" / "rex-omni-test-published", size="test",
                               layout="published")

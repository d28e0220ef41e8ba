"""Shared fixtures for the GRPO tests: a test-size Rex-Omni, small toy data, and a config builder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from verl.trainer.config import PPOConfig, load_config

REPO = Path(__file__).resolve().parents[2]
REWARDS = REPO / "tests" / "verl" / "reward_fixtures.py"

DATA_CONFIG = '''
from dataset.task_fns import GroundingTaskFn, PointingTaskFn
from dataset.task_fns.task_prompts.grounding_task import GROUNDING_SINGLE_REGION_STAGE_XYXY
from dataset.task_fns.task_prompts.pointing_task import POINTING_TASK_PROMPTS
from verl.utils.dataset import TSVRLHFDataset

root = "{root}"

def _entry(stem, task_fn, reward_name):
    return dict(type=TSVRLHFDataset, image_tsv_file=f"{{root}}/{{stem}}.images.tsv",
                anno_tsv_file=f"{{root}}/{{stem}}.annotations.tsv",
                anno_idx_file=f"{{root}}/{{stem}}.annotations.tsv.lineidx",
                min_pixels=16 * 28 * 28, max_pixels=256 * 28 * 28, task_fn=task_fn,
                dataset_name=stem, reward_name=reward_name)

grounding = dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY)
pointing = dict(type=PointingTaskFn, task_prompts=POINTING_TASK_PROMPTS)
train_dataset = [_entry("toy_grounding_train", grounding, "box_iou"),
                 _entry("toy_pointing_train", pointing, "point_in_box")]
val_dataset = [_entry("toy_grounding_val", grounding, "box_iou")]
'''


@pytest.fixture(scope="session", autouse=True)
def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from finetuning.tiny_model import build_tiny_rex_omni

    return build_tiny_rex_omni(tmp_path_factory.mktemp("models") / "rex-omni-test", size="test")


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dataset.toy_data import make_toy_datasets

    root = tmp_path_factory.mktemp("toy_data")
    make_toy_datasets(str(root), num_train=16, num_val=8, image_size=(112, 112), seed=0)
    return root


@pytest.fixture(scope="session")
def data_config(toy_data: Path) -> Path:
    path = toy_data / "grpo_test_data.py"
    path.write_text(DATA_CONFIG.format(root=toy_data))
    return path


@pytest.fixture()
def make_config(tiny_model: Path, data_config: Path, tmp_path: Path) -> Callable[..., PPOConfig]:
    """``make_config(world, "key=value", ...)``: a tiny CPU GRPO config with CLI-style overrides."""

    def build(world: int = 1, *extra: str) -> PPOConfig:
        args = [
            f"config={REPO / 'verl/configs/config.yaml'}", f"data.config_path={data_config}",
            f"worker.actor.model.model_path={tiny_model}", f"worker.reward.reward_function={REWARDS}:varied_reward",
            "data.format_prompt=null", "data.num_workers=0", "data.rollout_batch_size=2",
            "data.max_response_length=16", "worker.actor.global_batch_size=2", "worker.rollout.n=4",
            "worker.actor.micro_batch_size_per_device_for_update=4",
            "worker.actor.micro_batch_size_per_device_for_experience=4",
            "worker.rollout.tensor_parallel_size=1", "worker.actor.optim.lr=1e-3",
            f"trainer.n_gpus_per_node={world}", "trainer.device=cpu", "trainer.logger=[console]",
            f"trainer.save_checkpoint_path={tmp_path / 'ckpt'}", "trainer.save_freq=-1", "trainer.max_steps=2",
        ]
        return load_config(args + list(extra))

    return build

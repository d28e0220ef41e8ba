"""Shared fixtures for the GRPO tests: a test-size Rex-Omni, small toy data, and a config builder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from demo.toy_data_config import write_toy_data_config
from tests.tolerances import LOG_PROB_ATOL  # noqa: F401 - re-exported for the GRPO tests
from verl.trainer.config import PPOConfig, load_config

REPO = Path(__file__).resolve().parents[2]
REWARDS = REPO / "tests" / "verl" / "reward_fixtures.py"


@pytest.fixture(scope="session", autouse=True)
def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path) -> Path:
    """The session's test-size Rex-Omni (root conftest), under the name the GRPO tests use."""
    return tiny_model_dir


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from demo.toy_data import make_toy_datasets

    root = tmp_path_factory.mktemp("toy_data")
    make_toy_datasets(str(root), num_train=16, num_val=8, image_size=(112, 112), seed=0)
    return root


@pytest.fixture(scope="session")
def data_config(toy_data: Path) -> Path:
    path = toy_data / "grpo_test_data.py"
    write_toy_data_config(path, toy_data)
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


@pytest.fixture(scope="module")
def make_config_module(tiny_model: Path, data_config: Path):
    """``(config, processor)``: a 1-worker CPU GRPO config over the toy data, shared by a test module."""
    from transformers import AutoProcessor

    from verl.trainer.config import load_config

    cfg = load_config([f"config={REPO / 'verl/configs/config.yaml'}", f"data.config_path={data_config}",
                       f"worker.actor.model.model_path={tiny_model}", "data.num_workers=0",
                       "data.rollout_batch_size=2", "worker.actor.global_batch_size=2", "trainer.n_gpus_per_node=1",
                       "worker.rollout.tensor_parallel_size=1", "worker.actor.micro_batch_size_per_device_for_experience=8",
                       "data.max_response_length=12", "trainer.device=cpu"])
    return cfg, AutoProcessor.from_pretrained(tiny_model)


def fit_in_process(config: PPOConfig) -> list[dict]:
    """Build the trainer on one in-process worker, fit it, always release reward workers and the group;
    returns the per-step metrics ``fit`` gives back."""
    from verl.single_controller import LocalWorkerGroup
    from verl.trainer.main import build_trainer
    from verl.workers.fsdp_worker import FSDPWorker

    group = LocalWorkerGroup(FSDPWorker, config)
    trainer = build_trainer(config, group)
    try:
        trainer.init_workers()
        return trainer.fit()
    finally:
        trainer.reward.close()
        group.shutdown()

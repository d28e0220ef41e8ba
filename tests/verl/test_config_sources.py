"""``--print_config``: every key with its value and where it came from (default, yaml, environment,
command line, or a copy of another key); the ``--from_env`` layer sits between the YAML and the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from verl.trainer.config import load_config, read_layers
from verl.trainer.config_sources import describe_config, value_sources
from verl.trainer.main import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A launch directory with the files the defaults point at, a one-key YAML and a model folder."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "grpo.py").write_text("train_dataset = []\n")
    (tmp_path / "verl" / "configs").mkdir(parents=True)
    shutil.copy(REPO / "verl/configs/r1v_format.jinja", tmp_path / "verl/configs/r1v_format.jinja")
    (tmp_path / "verl/configs/reward_func.py").write_text("def compute_score(p, g):\n    return []\n")
    (tmp_path / "small.yaml").write_text("worker:\n  rollout:\n    n: 4\n    temperature: 0.7\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


ARGV = ["config=small.yaml", "worker.actor.model.model_path=model", "worker.rollout.temperature=0.9"]
ENV = [("LR", "worker.actor.optim.lr=3e-5"), ("TEMPERATURE", "worker.rollout.temperature=0.5")]


def _sources() -> dict[str, str]:
    from omegaconf import OmegaConf

    layers = [(name, OmegaConf.to_container(node)) for name, node in read_layers(ARGV, ENV)]
    return value_sources(load_config(ARGV, ENV), layers)  # type: ignore[arg-type]


def test_each_value_names_the_last_layer_that_set_it(run_dir: Path) -> None:
    sources = _sources()
    assert sources["worker.rollout.n"] == "yaml small.yaml"
    assert sources["worker.actor.optim.lr"] == "environment LR"
    assert sources["worker.rollout.temperature"] == "command line"  # over the yaml and TEMPERATURE
    assert sources["worker.actor.model.model_path"] == "command line"
    assert sources["trainer.save_freq"] == "default"
    assert sources["worker.rollout.response_length"] == "copied from data.max_response_length"


def test_the_environment_layer_sits_between_yaml_and_command_line(run_dir: Path) -> None:
    cfg = load_config(ARGV, ENV)
    assert cfg.worker.actor.optim.lr == 3e-5 and cfg.worker.rollout.temperature == 0.9 and cfg.worker.rollout.n == 4
    assert load_config(ARGV[:2], ENV).worker.rollout.temperature == 0.5  # no command line: the environment wins


def test_print_config_prints_every_key_once_and_exits_0(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--from_env", "LR:worker.actor.optim.lr=3e-5", *ARGV, "--print_config"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [line.split(" = ")[0] for line in lines]
    assert len(keys) == len(set(keys)) > 100
    by_key = {line.split(" = ")[0]: line for line in lines}
    assert by_key["worker.actor.optim.lr"].split("#")[1].strip() == "environment LR"
    assert " = 3e-05 " in by_key["worker.actor.optim.lr"]
    assert " = null " in by_key["trainer.max_steps"] and by_key["trainer.max_steps"].endswith("# default")


def test_from_env_needs_a_name_and_an_override(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--from_env", "worker.actor.optim.lr=3e-5", *ARGV]) == 2
    assert "--from_env takes NAME:key=value" in capsys.readouterr().err


def test_describe_config_lists_derived_keys_as_copies(run_dir: Path) -> None:
    text = describe_config(load_config(ARGV), [])
    assert "worker.actor.kl_coef = 0.01" in text and "# copied from algorithm.kl_coef" in text

"""Typed GRPO run configuration: YAML + CLI loading, derivation and validation of ``PPOConfig``.

The dataclasses (fields, defaults, one-line docs) live beside their owners: ``verl.trainer.ppo_config``
(``data``, ``algorithm``, ``trainer``), ``verl.workers.actor_config`` (``worker.actor``, ``worker.ref``),
``verl.workers.rollout_config`` and ``verl.workers.reward_config``; this module re-exports them.

A run is configured as in the original ``scripts/grpo.sh``::

    python3 -m verl.trainer.main config=verl/configs/config.yaml worker.rollout.n=8 trainer.logger=['console']

``load_config(argv)`` starts from the dataclass defaults, merges the YAML named by ``config=``, then the
dotted ``key=value`` overrides (values parsed by OmegaConf like YAML scalars, ``${..}`` interpolation
allowed), builds the dataclasses with type checks, and calls ``finalize_config`` which fills the derived
fields, makes paths absolute and validates. Every error is a ``ConfigError`` naming the dotted key.
Derived fields (``metadata={"derived": ...}``) cannot be set by the user; they are copied at finalize time.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any

from verl.config_schema import ConfigError, build_dataclass, dataclass_to_dict
from verl.trainer.config_checks import validate_config
from verl.trainer.ppo_config import (
    LOGGERS,
    AdvEstimator,
    AlgorithmConfig,
    DataConfig,
    PPOConfig,
    TrainerConfig,
)
from verl.workers.actor_config import (
    ActorConfig,
    FSDPConfig,
    KlPenalty,
    LoraConfig,
    LossAggMode,
    ModelConfig,
    OffloadConfig,
    OptimConfig,
    RefConfig,
)
from verl.workers.config import WorkerConfig
from verl.workers.device import resolve_device
from verl.workers.reward_config import RewardConfig
from verl.workers.rollout_config import VAL_OVERRIDABLE, RolloutConfig, resolve_rollout_name

__all__ = [
    "ActorConfig", "AlgorithmConfig", "ConfigError", "DataConfig", "FSDPConfig", "LoraConfig", "ModelConfig",
    "OffloadConfig", "OptimConfig", "PPOConfig", "RefConfig", "RewardConfig", "RolloutConfig",
    "TrainerConfig", "WorkerConfig", "config_to_dict", "finalize_config", "load_config",
    "resolve_device", "resolve_rollout_name", "LOGGERS", "VAL_OVERRIDABLE", "EnvOverride", "read_layers",
    "AdvEstimator", "KlPenalty", "LossAggMode",
]

# ----------------------------------------------------------------------------------------------- loading


def normalize_cli(argv: list[str]) -> list[str]:
    """Accept the flag spellings of the original README too: ``--data.config_path=x`` and
    ``--data.config_path x`` both become ``data.config_path=x``."""
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg.startswith("--") and len(arg) > 2:
            key = arg[2:]
            if "=" not in key:
                value = next(args, None)
                if value is None:
                    raise ConfigError(f"bad argument {arg!r}: no value follows it (e.g. {arg}=...)")
                key = f"{key}={value}"
            arg = key
        out.append(arg)
    return out


EnvOverride = tuple[str, str]  # (environment variable, "dotted.key=value") set by a launcher such as grpo.sh


def read_layers(argv: list[str], env_overrides: Sequence[EnvOverride] = ()) -> list[tuple[str, Any]]:
    """The layers over the dataclass defaults, in the order they apply, as ``(source, OmegaConf node)``:
    the YAML named by ``config=`` (``"yaml <path>"``), one per launcher variable (``"environment NAME"``),
    then the other ``key=value`` arguments (``"command line"``)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    argv = normalize_cli(argv)
    for arg in argv:
        if "=" not in arg or arg.startswith("-"):
            raise ConfigError(f"bad argument {arg!r}: expected key=value (e.g. worker.rollout.n=8)")
    try:
        cli = OmegaConf.from_cli(list(argv))
        yaml_path = cli.pop("config", None)
        layers = [(f"yaml {yaml_path}", OmegaConf.load(yaml_path))] if yaml_path else []
        layers += [(f"environment {name}", OmegaConf.from_cli([override])) for name, override in env_overrides]
    except (OmegaConfBaseException, OSError) as exc:
        raise ConfigError(f"cannot read config: {exc}") from exc
    return [*layers, ("command line", cli)]


def load_config(argv: list[str], env_overrides: Sequence[EnvOverride] = ()) -> PPOConfig:
    """Build a finalized ``PPOConfig`` from ``["config=x.yaml", "a.b=1", ...]``: the dataclass defaults,
    then the YAML, then the launcher's ``env_overrides``, then the command line (see :func:`read_layers`)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    layers = read_layers(argv, env_overrides)
    try:
        raw = OmegaConf.to_container(OmegaConf.merge(*(node for _, node in layers)), resolve=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"cannot read config: {exc}") from exc
    assert isinstance(raw, dict)
    return finalize_config(build_dataclass(PPOConfig, raw))


def config_to_dict(cfg: PPOConfig, include_derived: bool = True) -> dict[str, Any]:
    """Plain nested dict (lists, no tuples) for logging or YAML; without derived fields it loads back."""
    return dataclass_to_dict(cfg, include_derived)


# --------------------------------------------------------------------------------- derivation + checks


def finalize_config(cfg: PPOConfig) -> PPOConfig:
    """Return a copy with derived fields filled, paths absolute, and every rule checked.

    Copies (as the original post_init): data.max_prompt_length/max_response_length -> rollout.prompt_length/
    response_length; actor.model.trust_remote_code -> rollout; algorithm.{disable_kl,use_kl_loss,kl_penalty,
    kl_coef} -> actor; actor.{micro_batch_size_per_device_for_experience,padding_free,
    ulysses_sequence_parallel_size,use_torch_compile} -> ref. Relative paths resolve against the cwd.
    """
    cfg = copy.deepcopy(cfg)
    actor, rollout, ref, algo = cfg.worker.actor, cfg.worker.rollout, cfg.worker.ref, cfg.algorithm
    rollout.prompt_length = cfg.data.max_prompt_length
    rollout.response_length = cfg.data.max_response_length
    rollout.trust_remote_code = actor.model.trust_remote_code
    for name in ("disable_kl", "use_kl_loss", "kl_penalty", "kl_coef"):
        setattr(actor, name, getattr(algo, name))
    for name in ("micro_batch_size_per_device_for_experience", "padding_free",
                 "ulysses_sequence_parallel_size", "use_torch_compile"):
        setattr(ref, name, getattr(actor, name))
    _resolve_paths(cfg)
    validate_config(cfg)
    return cfg


def _abspath(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _existing_file(path: str, key: str) -> str:
    full = _abspath(path)
    if not os.path.isfile(full):
        raise ConfigError(f"{key}: file not found: {full}")
    return full


def _resolve_paths(cfg: PPOConfig) -> None:
    data, model, reward, trainer = cfg.data, cfg.worker.actor.model, cfg.worker.reward, cfg.trainer
    data.config_path = _existing_file(data.config_path, "data.config_path")
    if data.format_prompt is not None:
        data.format_prompt = _existing_file(data.format_prompt, "data.format_prompt")
    if model.model_path is None:
        raise ConfigError("worker.actor.model.model_path is required (HF repo id or local directory)")
    # Hub ids stay as they are; existing local paths become absolute.
    if os.path.exists(model.model_path):
        model.model_path = _abspath(model.model_path)
    if model.tokenizer_path is None:
        model.tokenizer_path = model.model_path
    elif os.path.exists(model.tokenizer_path):
        model.tokenizer_path = _abspath(model.tokenizer_path)
    if reward.reward_function is None:
        raise ConfigError("worker.reward.reward_function is required ('path/to/file.py:function')")
    file, _, fn = reward.reward_function.partition(":")
    reward.reward_function = f"{_existing_file(file, 'worker.reward.reward_function')}:{fn or 'compute_score'}"
    if trainer.save_checkpoint_path is None:
        trainer.save_checkpoint_path = os.path.join("checkpoints", trainer.project_name, trainer.experiment_name)
    trainer.save_checkpoint_path = _abspath(trainer.save_checkpoint_path)
    if trainer.load_checkpoint_path is not None:
        trainer.load_checkpoint_path = _abspath(trainer.load_checkpoint_path)
        if not os.path.isdir(trainer.load_checkpoint_path):
            raise ConfigError(f"trainer.load_checkpoint_path: directory not found: {trainer.load_checkpoint_path}")

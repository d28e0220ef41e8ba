"""GRPO entry point::

    python3 -m verl.trainer.main config=verl/configs/config.yaml data.config_path=configs/grpo.py \\
        worker.actor.model.model_path=IDEA-Research/Rex-Omni trainer.n_gpus_per_node=8

Connects to ``RAY_ADDRESS`` when set, else starts a private local Ray cluster; builds the data loaders
and reward manager on this driver process and ``nnodes x n_gpus_per_node`` FSDP workers on Ray.

A user mistake (unknown key, bad value, missing file or model) is one line on stderr and exit code 2,
before Ray starts. ``--check`` as the first argument runs only those checks and then the model-folder
check of ``tools/check_model.py`` on ``worker.actor.model.model_path`` (``--check --skip_model_check``
leaves it out); ``scripts/grpo.sh`` runs it before it launches, as its one pre-flight process.

``--print_config`` (anywhere) prints every key of the resolved configuration with its source (the
dataclass default, the YAML, a launcher variable, the command line) and exits. ``--from_env NAME:key=value``
is how a launcher passes an override taken from its environment variable ``NAME``: it applies after the
YAML and before the command line, and ``--print_config`` names ``NAME`` as its source.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from typing import Any

from verl.trainer.config import ConfigError, EnvOverride, PPOConfig, load_config, read_layers, resolve_device

__all__ = ["build_trainer", "main", "run"]

logger = logging.getLogger(__name__)


def _load_processor(config: PPOConfig) -> Any:
    from dataset.vocab_layout import load_processor

    model = config.worker.actor.model
    processor = load_processor(model.tokenizer_path, trust_remote_code=model.trust_remote_code)
    if config.data.override_chat_template:
        processor.chat_template = config.data.override_chat_template
        processor.tokenizer.chat_template = config.data.override_chat_template
    if processor.tokenizer.pad_token_id is None:
        processor.tokenizer.pad_token = processor.tokenizer.eos_token
    return processor


def _resolved_device(config: PPOConfig) -> str:
    import os

    if config.trainer.device != "auto":
        return config.trainer.device
    if os.environ.get("RAY_ADDRESS"):
        import ray

        return "cuda" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"
    return resolve_device("auto")


def build_trainer(config: PPOConfig, workers: Any = None) -> Any:
    """Data loaders, reward manager and trainer; ``workers`` defaults to a Ray worker group."""
    from verl.single_controller import RayWorkerGroup
    from verl.trainer.data_loader import build_datasets, build_loader
    from verl.trainer.ray_trainer import GRPOTrainer
    from verl.workers.fsdp_worker import FSDPWorker
    from verl.workers.reward import RewardManager

    processor = _load_processor(config)
    tokenizer = processor.tokenizer
    # Load the reward file first: it may register the reward names the datasets are checked against.
    reward = RewardManager(config.worker.reward, tokenizer)
    train_set, val_set = build_datasets(config.data, tokenizer, processor)
    train_loader = build_loader(train_set, config.data, tokenizer.pad_token_id)
    val_loader = None
    if val_set is not None:
        size = config.data.val_batch_size if config.data.val_batch_size > 0 else len(val_set)
        val_loader = build_loader(val_set, config.data, tokenizer.pad_token_id, batch_size=size, shuffle=False)
    if workers is None:
        trainer_cfg = config.trainer
        workers = RayWorkerGroup(FSDPWorker, config, nnodes=trainer_cfg.nnodes, per_node=trainer_cfg.n_gpus_per_node,
                                 use_gpu=trainer_cfg.device == "cuda")
    return GRPOTrainer(config, workers, reward, train_loader, val_loader)


def run(config: PPOConfig) -> list[dict[str, float]]:
    """Start (or join) Ray, train, and tear everything down; returns the per-step metrics."""
    from verl.single_controller.worker_group import init_ray, shutdown_ray

    world = config.trainer.nnodes * config.trainer.n_gpus_per_node
    device = resolve_device(config.trainer.device)
    init_ray(num_cpus=world if device == "cpu" else None)
    trainer = None
    try:
        device = _resolved_device(config)
        config = dataclasses.replace(config, trainer=dataclasses.replace(config.trainer, device=device))
        trainer = build_trainer(config)
        trainer.init_workers()
        return trainer.fit()
    finally:
        if trainer is not None:
            trainer.reward.close()
            trainer.workers.shutdown()
        shutdown_ray()


def check_data_files(config: PPOConfig) -> None:
    """Every TSV file named by ``data.config_path`` exists; raises ``ConfigError`` naming the first missing one."""
    from dataset.config_checks import DataConfigError, load_data_config, missing_data_paths

    try:
        data_cfg = load_data_config(config.data.config_path)
    except DataConfigError as exc:
        raise ConfigError(f"data.config_path {exc}") from exc
    missing = missing_data_paths(data_cfg)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConfigError(f"data.config_path {config.data.config_path}: data file not found: {missing[0]}{more}")
    check_reward_names(config, data_cfg)
    check_train_size(config, count_train_samples(data_cfg))


def check_reward_names(config: PPOConfig, data_cfg: Any) -> None:
    """Every dataset's ``reward_name`` is registered once the reward file (which may register its own) is
    loaded; raises ``ConfigError`` naming the first dataset that names an unknown one."""
    from verl.trainer.data_loader import unknown_reward_line
    from verl.workers.reward import load_reward_function

    spec = config.worker.reward.reward_function
    try:
        load_reward_function(spec)
    except (ImportError, AttributeError, SyntaxError, OSError) as exc:
        raise ConfigError(f"worker.reward.reward_function {spec}: cannot load it: {exc}") from exc
    for key in ("train_dataset", "val_dataset"):
        entries = data_cfg.get(key) or []
        for entry in entries if isinstance(entries, list) else [entries]:
            name = entry.get("reward_name") if hasattr(entry, "get") else None
            line = unknown_reward_line(entry.get("dataset_name", "?"), name) if isinstance(name, str) else None
            if line is not None:
                raise ConfigError(f"data.config_path {config.data.config_path}: {key} {line}")


def count_train_samples(data_cfg: Any) -> int:
    """Training samples the data config names: lines of each ``train_dataset`` entry's ``ann_lineidx_file``
    (at most its ``max_num_samples``)."""
    entries = data_cfg.get("train_dataset") or []
    total = 0
    for entry in entries if isinstance(entries, list) else [entries]:
        path = entry.get("ann_lineidx_file") if hasattr(entry, "get") else None
        if isinstance(path, str):
            with open(path, "rb") as handle:
                lines = sum(1 for line in handle if line.strip())
            cap = entry.get("max_num_samples")
            total += min(lines, cap) if isinstance(cap, int) and cap > 0 else lines
    return total


def check_train_size(config: PPOConfig, num_samples: int) -> None:
    """Raise ``ConfigError`` (naming the fix) when one rollout batch needs more prompts than the data has."""
    from verl.trainer.config_checks import fix_hint

    batch = config.data.rollout_batch_size
    if 0 < num_samples < batch:
        raise ConfigError(f"data.rollout_batch_size: {batch} prompts per step but {config.data.config_path} has "
                          f"{num_samples} training samples{fix_hint('data.rollout_batch_size', num_samples)} "
                          "(and a worker.actor.global_batch_size that divides it)")


def check_actor_model_path(config: PPOConfig) -> None:
    """The actor's model is a local folder with config.json or a hub id in the local cache (runs are
    offline); raises ``ConfigError`` naming it."""
    from modeling.model_folder import model_path_problem

    path = config.worker.actor.model.model_path
    problem = model_path_problem(path) if path else None
    if problem:
        raise ConfigError(f"worker.actor.model.model_path {path}: {problem}")


def check_output_path(config: PPOConfig) -> None:
    """The checkpoint folder can be created and written (a probe folder, not permission bits: ``/proc`` passes
    those as root); raises ``ConfigError`` naming it."""
    from dataset.output_paths import output_dir_problem

    path = config.trainer.save_checkpoint_path
    problem = output_dir_problem(path) if path else None
    if problem:
        raise ConfigError(f"trainer.save_checkpoint_path {path}: cannot write ({problem})")


def _check_mode(argv: list[str]) -> tuple[bool, bool, list[str]]:
    """(check only, model-folder check too, the overrides) from a leading ``--check [--skip_model_check]``."""
    if not argv or argv[0] != "--check":
        return False, False, argv
    if len(argv) > 1 and argv[1] == "--skip_model_check":
        return True, False, argv[2:]
    return True, True, argv[1:]


def _launcher_flags(argv: list[str]) -> tuple[bool, list[EnvOverride], list[str]]:
    """(``--print_config`` given, the ``--from_env NAME:key=value`` overrides, the other arguments)."""
    print_config, env_overrides, rest = False, [], []
    args = iter(argv)
    for arg in args:
        if arg == "--print_config":
            print_config = True
        elif arg == "--from_env":
            name, sep, override = (next(args, None) or "").partition(":")
            if not sep or "=" not in override:
                raise ConfigError("--from_env takes NAME:key=value (e.g. LR:worker.actor.optim.lr=1e-6)")
            env_overrides.append((name, override))
        else:
            rest.append(arg)
    return print_config, env_overrides, rest


def print_resolved_config(config: PPOConfig, overrides: list[str], env_overrides: list[EnvOverride]) -> None:
    """Every key of the run with its value and where it came from (default, yaml, environment, command line)."""
    from omegaconf import OmegaConf

    from verl.trainer.config_sources import describe_config

    layers = [(name, OmegaConf.to_container(node, resolve=False)) for name, node in read_layers(overrides, env_overrides)]
    print(describe_config(config, layers))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """Check the configuration, then train (unless ``--check`` comes first); returns the exit code."""
    try:
        print_config, env_overrides, args = _launcher_flags(list(sys.argv[1:] if argv is None else argv))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    check_only, check_model, overrides = _check_mode(args)
    try:
        config = load_config(overrides, env_overrides)
        if print_config:
            print_resolved_config(config, overrides, env_overrides)
            return 0
        check_data_files(config)
        check_actor_model_path(config)
        check_output_path(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if check_only:
        if not check_model:
            return 0
        from modeling.model_folder import run_model_check

        return run_model_check(str(config.worker.actor.model.model_path))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from verl.single_controller.worker_group import WorkerLost

    try:
        run(config)
    except WorkerLost as exc:  # a node or worker died mid-run: one line; the checkpoints stay as they were
        print(f"error: {exc}; checkpoints under {config.trainer.save_checkpoint_path} are kept: rerun the same "
              "command to resume from the latest", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

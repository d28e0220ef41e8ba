"""The run's own configuration (``data``, ``algorithm``, ``trainer``) and ``PPOConfig``, the whole tree.

Each field's comment is its documentation and each default is the run's default; the ``worker`` part is
defined beside the workers (``verl.workers.config``). ``verl/configs/config.yaml`` lists the same keys
with the same values (``tests/verl/test_config.py`` checks both directions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from verl.workers.actor_config import KlPenalty
from verl.workers.config import WorkerConfig

__all__ = ["LOGGERS", "AlgorithmConfig", "DataConfig", "PPOConfig", "TrainerConfig"]

AdvEstimator = Literal["grpo", "rloo"]
LOGGERS = ("console", "wandb", "tensorboard")


@dataclass
class DataConfig:
    config_path: str = "configs/grpo.py"  # mmengine file whose `train_dataset` (and optional `val_dataset`) list is built
    max_prompt_length: int = 4096  # prompt tokens (left-padded); injected into every dataset, copied to rollout
    max_response_length: int = 2048  # generated tokens per sample (vLLM max_tokens), copied to rollout
    rollout_batch_size: int = 64  # prompts per training step (each sampled worker.rollout.n times)
    val_batch_size: int = -1  # prompts per validation batch; -1 = whole validation set at once
    format_prompt: str | None = "verl/configs/r1v_format.jinja"  # jinja2 template applied to each prompt; None = as is
    override_chat_template: str | None = None  # replaces the processor's chat template (driver and datasets)
    filter_overlong_prompts: bool = True  # datasets skip (and count) prompts over max_prompt_length instead of raising
    shuffle: bool = True  # shuffle the train set each epoch (RandomSampler seeded with data.seed)
    seed: int = 1  # sampler seed
    num_workers: int = 8  # DataLoader worker processes


@dataclass
class AlgorithmConfig:
    adv_estimator: AdvEstimator = "grpo"  # outcome advantage (core_algos.ADV_ESTIMATORS)
    norm_adv_by_std_in_grpo: bool = True  # grpo divides by the group std; false = Dr.GRPO (s - group mean)
    disable_kl: bool = False  # no reference model and no KL term at all
    use_kl_loss: bool = True  # KL(actor||ref) as a loss term (True) or subtracted from the reward (False)
    kl_penalty: KlPenalty = "low_var_kl"  # KL estimator (core_algos.KL_PENALTIES)
    kl_coef: float = 1e-2  # weight of the KL term (loss or reward)
    online_filtering: bool = False  # drop prompt groups whose n rewards are all equal (DAPO dynamic sampling)


@dataclass
class TrainerConfig:
    total_epochs: int = 1  # passes over the train set
    max_steps: int | None = None  # stop after this many steps (overrides total_epochs)
    project_name: str = "rex_omni"  # tracker project
    experiment_name: str = "rex_omni_grpo"  # tracker run name and checkpoint sub-directory
    logger: list[str] = field(default_factory=lambda: ["console", "tensorboard"])  # subset of LOGGERS
    nnodes: int = 1  # Ray nodes
    n_gpus_per_node: int = 8  # worker processes per node (GPUs; CPU processes when device=cpu)
    device: Literal["auto", "cuda", "cpu"] = "auto"  # auto = cuda if available
    seed: int = 1  # global torch/numpy/random seed of every worker
    val_freq: int = -1  # validate every N steps; -1 = never (needs `val_dataset` in data.config_path)
    val_before_train: bool = False  # validate once before the first step
    val_only: bool = False  # validate and exit
    val_generations_to_log: int = 3  # (prompt, response, score) samples logged per validation
    save_freq: int = 100  # checkpoint every N steps; -1 = only at the end
    save_limit: int = -1  # keep the newest N checkpoints; -1 = keep all
    save_checkpoint_path: str | None = None  # None = checkpoints/<project_name>/<experiment_name>
    load_checkpoint_path: str | None = None  # resume from this global_step_* directory


@dataclass
class PPOConfig:
    data: DataConfig = field(default_factory=DataConfig)  # what to train on: data files, lengths, batch size
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)  # advantages, KL and filtering
    worker: WorkerConfig = field(default_factory=WorkerConfig)  # the colocated actor, rollout, reference and reward
    trainer: TrainerConfig = field(default_factory=TrainerConfig)  # steps, logging, nodes, checkpoints

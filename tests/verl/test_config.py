"""Config loading: YAML + grpo.sh-style overrides, type/choice/divisibility errors, derivation, round trip."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
import yaml

from verl.trainer.config import (
    ConfigError,
    PPOConfig,
    config_to_dict,
    finalize_config,
    load_config,
    resolve_device,
    resolve_rollout_name,
)

REPO = Path(__file__).resolve().parents[2]
YAML = REPO / "verl" / "configs" / "config.yaml"
JINJA = REPO / "verl" / "configs" / "r1v_format.jinja"

# the original scripts/grpo.sh, minus the environment
GRPO_SH = [
    f"config={YAML}", "data.config_path=configs/grpo.py", "data.format_prompt=verl/configs/r1v_format.jinja",
    "worker.actor.model.model_path=IDEA-Research/Rex-Omni", "trainer.experiment_name=grpo",
    "trainer.n_gpus_per_node=8", "worker.actor.global_batch_size=64", "data.rollout_batch_size=64",
    "worker.actor.micro_batch_size_per_device_for_update=4",
    "worker.actor.micro_batch_size_per_device_for_experience=8", "worker.rollout.n=8",
    "trainer.experiment_name=grpo", "trainer.save_checkpoint_path=work_dirs/grpo", "trainer.save_freq=100",
]


@pytest.fixture
def run_dir(tmp_path, monkeypatch) -> Path:
    """A launch directory holding the files the YAML points at."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "grpo.py").write_text("train_dataset = []\n")
    (tmp_path / "verl" / "configs").mkdir(parents=True)
    shutil.copy(JINJA, tmp_path / "verl" / "configs" / "r1v_format.jinja")
    (tmp_path / "verl" / "configs" / "reward_func.py").write_text("def compute_score(p, g):\n    return []\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _load(*overrides: str) -> PPOConfig:
    return load_config([*GRPO_SH, *overrides])


def test_grpo_sh_command_line(run_dir):
    cfg = _load()
    assert cfg.data.rollout_batch_size == 64 and cfg.worker.rollout.n == 8 and cfg.trainer.save_freq == 100
    assert cfg.worker.actor.micro_batch_size_per_device_for_experience == 8
    assert cfg.trainer.experiment_name == "grpo"
    assert cfg.data.config_path == str(run_dir / "configs" / "grpo.py")
    assert cfg.data.format_prompt == str(run_dir / "verl" / "configs" / "r1v_format.jinja")
    assert cfg.trainer.save_checkpoint_path == str(run_dir / "work_dirs" / "grpo")
    assert cfg.worker.reward.reward_function == f"{run_dir / 'verl' / 'configs' / 'reward_func.py'}:compute_score"
    # hub ids are left alone; tokenizer defaults to the model
    assert cfg.worker.actor.model.model_path == "IDEA-Research/Rex-Omni" == cfg.worker.actor.model.tokenizer_path
    # YAML values that the command line does not touch
    assert cfg.worker.actor.optim.lr == 1e-6 and cfg.algorithm.kl_penalty == "low_var_kl"
    assert cfg.worker.rollout.val_override_config == {"temperature": 0.5, "n": 1}
    assert cfg.worker.actor.optim.betas == (0.9, 0.999)


def test_derived_fields_copied(run_dir):
    cfg = _load("data.max_prompt_length=1024", "data.max_response_length=256", "algorithm.kl_coef=0.5",
                "algorithm.use_kl_loss=false", "worker.actor.padding_free=false",
                "worker.actor.model.trust_remote_code=true")
    rollout, actor, ref = cfg.worker.rollout, cfg.worker.actor, cfg.worker.ref
    assert (rollout.prompt_length, rollout.response_length, rollout.trust_remote_code) == (1024, 256, True)
    assert (actor.kl_coef, actor.use_kl_loss, actor.kl_penalty, actor.disable_kl) == (0.5, False, "low_var_kl", False)
    assert ref.micro_batch_size_per_device_for_experience == 8 and ref.padding_free is False
    assert ref.fsdp.enable_cpu_offload is True  # YAML value for ref kept


def test_value_parsing(run_dir):
    cfg = _load("trainer.logger=['console','wandb']", "worker.actor.optim.lr=3e-6", "trainer.max_steps=null",
                "worker.actor.optim.betas=[0.9,0.95]", "worker.rollout.temperature=1",
                "trainer.project_name=2024", "trainer.experiment_name=${trainer.project_name}_x")
    assert cfg.trainer.logger == ["console", "wandb"]
    assert cfg.worker.actor.optim.lr == 3e-6 and cfg.trainer.max_steps is None
    assert cfg.worker.actor.optim.betas == (0.9, 0.95)
    assert cfg.worker.rollout.temperature == 1.0 and isinstance(cfg.worker.rollout.temperature, float)
    assert cfg.trainer.experiment_name == "2024_x"
    assert _load("trainer.logger=console").trainer.logger == ["console"]


def test_default_checkpoint_path(run_dir):
    argv = [a for a in GRPO_SH if not a.startswith("trainer.save_checkpoint_path")]
    cfg = load_config([*argv, "trainer.project_name=p"])
    assert cfg.trainer.save_checkpoint_path == str(run_dir / "checkpoints" / "p" / "grpo")


@pytest.mark.parametrize(("override", "message"), [
    ("worker.actor.foo=1", r"unknown key 'worker.actor.foo'.*allowed under 'worker.actor'"),
    ("worker.actor.optim.lrr=1", r"unknown key 'worker.actor.optim.lrr' \(did you mean 'worker.actor.optim.lr'\?\)"),
    ("trainer.critic_warmup=0", "unknown key 'trainer.critic_warmup'"),
    ("worker.rollout.prompt_length=10", "'worker.rollout.prompt_length' is derived from 'data.max_prompt_length'"),
    ("worker.actor.kl_coef=0.1", "derived from 'algorithm.kl_coef'"),
])
def test_unknown_and_derived_keys(run_dir, override, message):
    with pytest.raises(ConfigError, match=message):
        _load(override)


@pytest.mark.parametrize(("override", "message"), [
    ("worker.actor.loss_agg_mode=sum",
     r"worker.actor.loss_agg_mode: invalid value 'sum'; allowed: \['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'\]"),
    ("algorithm.norm_adv_by_std_in_grpo=maybe", r"algorithm.norm_adv_by_std_in_grpo: expected bool"),
    ("algorithm.adv_estimator=gae", r"algorithm.adv_estimator: .*allowed: \['grpo', 'rloo'\]"),
    ("algorithm.kl_penalty=full", r"allowed: \['kl', 'abs', 'mse', 'low_var_kl'\]"),
    ("worker.rollout.name=sglang", r"allowed: \['auto', 'hf', 'vllm'\]"),
    ("trainer.device=tpu", r"trainer.device: .*allowed: \['auto', 'cuda', 'cpu'\]"),
    ("trainer.logger=[console,mlflow]", r"trainer.logger: invalid \['mlflow'\]; allowed: \['console', 'wandb', 'tensorboard'\]"),
    ("worker.rollout.n=abc", r"worker.rollout.n: expected int, got 'abc'"),
    ("worker.rollout.n=2.5", r"worker.rollout.n: expected int"),
    ("data.shuffle=1", r"data.shuffle: expected bool"),
    ("worker.actor.optim.betas=[0.9]", r"worker.actor.optim.betas: expected a list of 2 values"),
    ("worker.actor.optim.lr=abc", r"worker.actor.optim.lr: expected float"),
    ("worker.actor.clip_ratio_dual=0.5", r"worker.actor.clip_ratio_dual: must be > 1 or null"),
    ("worker.rollout.top_p=0", r"worker.rollout.top_p: must be in \(0, 1\]"),
    ("worker.rollout.val_override_config={seed: 3}", r"val_override_config: unknown keys \['seed'\]"),
    ("data.rollout_batch_size=-8", r"data.rollout_batch_size: must be > 0, got -8"),
    ("data.max_response_length=0", r"data.max_response_length: must be > 0"),
    ("trainer.save_freq=0", r"trainer.save_freq: must be -1 \(off\) or > 0"),
    ("data", r"bad argument 'data'"),
])
def test_bad_values(run_dir, override, message):
    with pytest.raises(ConfigError, match=message):
        _load(override)


@pytest.mark.parametrize(("overrides", "message"), [
    (["worker.rollout.n=1"], r"worker.rollout.n: grpo needs groups: must be > 1, got 1"),
    (["worker.rollout.n=1", "algorithm.adv_estimator=rloo"], r"rloo needs groups"),
    (["worker.actor.global_batch_size=48"], r"data.rollout_batch_size: 64 must be divisible by worker.actor.global_batch_size 48"),
    (["data.rollout_batch_size=60", "worker.actor.global_batch_size=60"], r"data.rollout_batch_size: 60 must be divisible by the world size 8"),
    (["worker.actor.micro_batch_size_per_device_for_update=5"], r"micro_batch_size_per_device_for_update: 5 must divide the per-device update batch 64"),
    (["worker.actor.micro_batch_size_per_device_for_experience=48"], r"experience: 48 must divide the per-device experience batch 64"),
    (["worker.rollout.tensor_parallel_size=3"], r"tensor_parallel_size: must divide the world size 8"),
    (["worker.actor.fsdp.enable_cpu_offload=true"], r"enable_cpu_offload: FSDP CPU offload forbids gradient accumulation"),
    (["worker.rollout.name=vllm", "worker.rollout.max_num_batched_tokens=4096"], r"max_num_batched_tokens: must be >= .* = 6144"),
    (["trainer.device=cpu", "worker.rollout.name=vllm"], r"worker.rollout.name: vllm needs trainer.device"),
    (["algorithm.adv_estimator=rloo", "algorithm.norm_adv_by_std_in_grpo=false"],
     r"algorithm.norm_adv_by_std_in_grpo: false applies to adv_estimator grpo only, got 'rloo'"),
])
def test_consistency_rules(run_dir, overrides, message):
    with pytest.raises(ConfigError, match=message):
        _load(*overrides)


@pytest.mark.parametrize("override", [
    "worker.actor.padding_free=true", "worker.actor.use_torch_compile=true",
    "worker.actor.ulysses_sequence_parallel_size=2", "worker.actor.optim.strategy=adamw_bf16",
    "worker.actor.fsdp.fsdp_size=4", "worker.ref.fsdp.fsdp_size=2", "worker.actor.fsdp.enable_rank0_init=true",
    "worker.actor.fsdp.use_orig_params=false", "worker.ref.fsdp.mp_buffer_dtype=bf16",
    "worker.ref.offload.offload_params=true", "worker.reward.num_cpus=4",
])
def test_unimplemented_knobs_rejected(run_dir, override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"^{key}: this value is not supported \("):
        _load(override)


def test_unimplemented_knobs_accept_their_defaults(run_dir):
    cfg = _load("worker.actor.padding_free=false", "worker.actor.fsdp.fsdp_size=8", "worker.actor.optim.strategy=adamw")
    assert cfg.worker.ref.padding_free is False and cfg.data.filter_overlong_prompts is True


def test_consistency_rules_pass_for_small_cpu_run(run_dir):
    cfg = _load("trainer.n_gpus_per_node=1", "data.rollout_batch_size=2", "worker.actor.global_batch_size=2",
                "worker.rollout.n=4", "worker.actor.micro_batch_size_per_device_for_update=8",
                "worker.actor.micro_batch_size_per_device_for_experience=8", "worker.rollout.tensor_parallel_size=1",
                "trainer.device=cpu", "worker.rollout.name=hf")
    assert cfg.trainer.device == "cpu"


def test_required_and_missing_files(run_dir):
    with pytest.raises(ConfigError, match="worker.actor.model.model_path is required"):
        load_config([f"config={YAML}"])
    with pytest.raises(ConfigError, match="data.format_prompt: file not found"):
        _load("data.format_prompt=nope.jinja")
    with pytest.raises(ConfigError, match="worker.reward.reward_function: file not found"):
        _load("worker.reward.reward_function=missing.py:fn")
    with pytest.raises(ConfigError, match="trainer.load_checkpoint_path: directory not found"):
        _load("trainer.load_checkpoint_path=nowhere")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(["config=missing.yaml"])
    assert _load("worker.reward.reward_function=verl/configs/reward_func.py").worker.reward.reward_function.endswith(
        "reward_func.py:compute_score")


def test_local_model_path_made_absolute(run_dir):
    (run_dir / "model").mkdir()
    cfg = _load("worker.actor.model.model_path=model")
    assert cfg.worker.actor.model.model_path == str(run_dir / "model") == cfg.worker.actor.model.tokenizer_path


def _leaf_paths(tree: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        if isinstance(value, dict) and key not in ("val_override_config", "override_config", "reward_function_kwargs"):
            out += _leaf_paths(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def _flat(tree: dict, prefix: str = "") -> dict:
    """``{dotted key: value}``; the free-form mappings (val_override_config, ...) stay one value."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) or not isinstance(key, str) for v in [value]) \
                and key not in FREE_FORM_MAPPINGS:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


FREE_FORM_MAPPINGS = {"val_override_config", "override_config", "reward_function_kwargs"}


def test_yaml_and_dataclass_defaults_are_equal_both_ways():
    """config.yaml lists every (non-derived) field with the dataclass default, and nothing else."""
    from omegaconf import OmegaConf

    in_yaml = _flat(OmegaConf.to_container(OmegaConf.load(YAML)))  # read as load_config reads it
    in_dataclasses = _flat(config_to_dict(PPOConfig(), include_derived=False))
    assert sorted(set(in_dataclasses) - set(in_yaml)) == [], "dataclass fields missing from config.yaml"
    assert sorted(set(in_yaml) - set(in_dataclasses)) == [], "config.yaml keys that are no dataclass field"
    differ = {k: (in_dataclasses[k], in_yaml[k]) for k in in_yaml if in_yaml[k] != in_dataclasses[k]}
    assert differ == {}, "(dataclass default, config.yaml value) disagree"
    assert len(in_yaml) > 100


def test_the_equality_check_sees_a_changed_value_and_a_missing_key():
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(OmegaConf.load(YAML))
    tree["worker"]["actor"]["offload"]["offload_params"] = False
    del tree["worker"]["rollout"]["top_k"]
    flat, want = _flat(tree), _flat(config_to_dict(PPOConfig(), include_derived=False))
    assert set(want) - set(flat) == {"worker.rollout.top_k"}
    assert [k for k in flat if flat[k] != want[k]] == ["worker.actor.offload.offload_params"]


def test_every_config_field_has_a_one_line_comment():
    import inspect

    from verl.trainer import ppo_config
    from verl.workers import actor_config, reward_config, rollout_config

    bare = []
    for module in (ppo_config, actor_config, rollout_config, reward_config):
        for _, cls in inspect.getmembers(module, dataclasses.is_dataclass):
            lines = {line.strip().split(":")[0]: line for line in inspect.getsource(cls).splitlines()}
            for f in dataclasses.fields(cls):
                if "derived" not in f.metadata and "  # " not in lines[f.name]:
                    bare.append(f"{cls.__name__}.{f.name}")
    assert bare == []


def test_round_trip_through_yaml(run_dir):
    cfg = _load("worker.actor.optim.lr_warmup_steps=5")
    path = run_dir / "saved.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg, include_derived=False)))
    assert load_config([f"config={path}"]) == cfg
    assert "prompt_length" in config_to_dict(cfg)["worker"]["rollout"]


def test_finalize_does_not_mutate_input(run_dir):
    raw = PPOConfig()
    raw.worker.actor.model.model_path = "m"
    raw.trainer.n_gpus_per_node = 1
    raw.worker.rollout.tensor_parallel_size = 1
    done = finalize_config(raw)
    assert raw.trainer.save_checkpoint_path is None and os.path.isabs(done.trainer.save_checkpoint_path)
    assert dataclasses.is_dataclass(done) and done.worker.rollout.prompt_length == raw.data.max_prompt_length


def test_resolvers():
    assert resolve_device("cpu") == "cpu" and resolve_device("auto") in ("cpu", "cuda")
    assert resolve_rollout_name("auto", "cpu") == "hf"
    assert resolve_rollout_name("vllm", "cpu") == "vllm"


def test_format_prompt_template_keeps_question():
    jinja2 = pytest.importorskip("jinja2")
    question = "<image>\nDetect person, car. Output the bounding box coordinates in [x0, y0, x1, y1] format."
    rendered = jinja2.Template(JINJA.read_text()).render(content=f"  {question}\n")
    assert rendered == question

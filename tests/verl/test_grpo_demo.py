"""The quickstart's GRPO stage raises its SFT start's held-out IoU: a shortened ``scripts/quickstart.sh``.

SFT with the CPU demo recipe (``scripts/sft.sh``) for ``SFT_STEPS`` steps, then GRPO with the CPU-demo
settings of ``scripts/grpo.sh`` (read from ``demo/grpo_cpu_defaults.sh``: batch, group size, temperature,
learning rate, warm-up, KL, frozen vision tower) for ``GRPO_STEPS`` steps on 2 Ray workers, then greedy
evaluation of both models on the same held-out images. GRPO must change the held-out mean box-IoU reward
(a GRPO that stops updating leaves the greedy answers, and so the reward, exactly as they were) and not
lower it by more than ``-MIN_GAIN``, nor the parse rate or F1 beyond one or two boxes. Measured: +0.038 from
0.612 and +0.020 with another prompt order (2026-11-30); the full quickstart's gain ranges from -0.007 to
+0.028 over seeds, prompt orders and machines (docs/demo.md, "Spread over seeds, prompt orders and
machines"), so a rise cannot be required on every machine; -0.02 is three times the worst drop seen and
still catches the collapse that larger learning rates caused. It guards the loop and the demo settings against
changes that stop GRPO from learning, and against the collapse larger learning rates caused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.demo.test_demo_recipe import cpu_defaults_file, demo_configs, demo_sft_argv, script_default

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SFT_STEPS = 150
GRPO_STEPS = 12
MIN_GAIN = -0.02  # see the docstring
NUM_VAL = 32
# The order in which GRPO draws prompts (data.seed, 1 by default); REX_GRPO_DEMO_SEED=2 or 3 repeats the
# measurement with another order.
PROMPT_ORDER = int(os.environ.get("REX_GRPO_DEMO_SEED", "1"))


def grpo_demo_default(name: str) -> str:
    """The demo recipe's ``name`` for scripts/grpo.sh (demo/grpo_demo_recipe.sh)."""
    return script_default("grpo.sh", name)


def test_grpo_demo_default_reads_the_cpu_defaults_file() -> None:
    text = cpu_defaults_file("grpo.sh").read_text()
    for name in ("ROLLOUT_BATCH_SIZE", "GLOBAL_BATCH_SIZE", "LR", "TEMPERATURE", "WARMUP_RATIO",
                 "FREEZE_VISION_TOWER"):
        assert f'{name}="${{{name}:-{grpo_demo_default(name)}}}"' in text
    assert "source demo/grpo_cpu_defaults.sh" in (REPO_ROOT / "scripts" / "grpo.sh").read_text()
    assert "source demo/grpo_demo_recipe.sh" in (REPO_ROOT / "demo" / "grpo_cpu_defaults.sh").read_text()


def _grpo_overrides(model: Path, data_config: Path, out: Path) -> list[str]:
    d = grpo_demo_default
    return [
        f"config={REPO_ROOT / 'verl/configs/config.yaml'}", f"data.config_path={data_config}",
        "data.format_prompt=verl/configs/r1v_format.jinja", "data.num_workers=0",
        f"data.max_response_length={d('MAX_RESPONSE_LENGTH')}", f"data.rollout_batch_size={d('ROLLOUT_BATCH_SIZE')}",
        f"algorithm.kl_coef={d('KL_COEF')}", f"algorithm.disable_kl={d('DISABLE_KL')}",
        f"worker.actor.model.model_path={model}", f"worker.actor.global_batch_size={d('GLOBAL_BATCH_SIZE')}",
        f"worker.actor.micro_batch_size_per_device_for_update={d('MICRO_UPDATE')}",
        f"worker.actor.micro_batch_size_per_device_for_experience={d('MICRO_EXPERIENCE')}",
        f"worker.actor.model.enable_gradient_checkpointing={d('GRADIENT_CHECKPOINTING')}",
        f"worker.actor.model.freeze_vision_tower={d('FREEZE_VISION_TOWER')}",
        f"worker.actor.optim.lr={d('LR')}", f"worker.actor.optim.lr_warmup_ratio={d('WARMUP_RATIO')}",
        "worker.rollout.name=hf", f"worker.rollout.temperature={d('TEMPERATURE')}",
        "worker.rollout.tensor_parallel_size=1", "trainer.device=cpu", "trainer.n_gpus_per_node=2",
        "trainer.logger=[console]", f"trainer.max_steps={GRPO_STEPS}", f"trainer.save_checkpoint_path={out}",
        "trainer.save_freq=-1", f"data.seed={PROMPT_ORDER}",
    ]


def _evaluate(model: Path, toy: Path, config: Path, out: Path) -> dict[str, float]:
    from tools import evaluate

    assert evaluate.main(["--model", str(model), "--split", str(toy / "toy_grounding_val"), "--task", "grounding",
                          "--config", str(config), "--output_dir", str(out), "--batch_size", "16",
                          "--max_new_tokens", "64", "--num_visualisations", "0"]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_grpo_demo_raises_held_out_iou(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from demo.tiny_model import build_tiny_rex_omni
    from demo.toy_data import make_toy_datasets
    from finetuning.arguments import parse_args
    from finetuning.train import run_training, setup_logging
    from tools import merge_rl_checkpoints_to_hg_version
    from tools.make_toy_data import PRESETS
    from verl.trainer.config import load_config
    from verl.trainer.main import run

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.chdir(REPO_ROOT)  # the GRPO config's relative paths (format prompt, reward file)
    model = build_tiny_rex_omni(REPO_ROOT / "work_dirs" / "models" / "rex-omni-demo", size="demo")
    toy = tmp_path / "toy"
    make_toy_datasets(str(toy), seed=0, **{**PRESETS["demo"], "num_train": 1024, "num_val": NUM_VAL})
    configs = demo_configs(tmp_path, toy, model)
    sft_config = configs / "sft.py"
    sft_dir = tmp_path / "sft"
    args = parse_args(demo_sft_argv(sft_config, sft_dir, SFT_STEPS))
    setup_logging(args[2])
    run_training(*args)

    grpo_dir = tmp_path / "grpo"
    run(load_config(_grpo_overrides(sft_dir, configs / "grpo.py", grpo_dir)))
    grpo_model = tmp_path / "grpo_hf"
    actor = grpo_dir / f"global_step_{GRPO_STEPS}" / "actor"
    assert merge_rl_checkpoints_to_hg_version.main(["--local_dir", str(actor), "--output_dir", str(grpo_model)]) == 0

    sft = _evaluate(sft_dir, toy, sft_config, tmp_path / "eval_sft")
    grpo = _evaluate(grpo_model, toy, sft_config, tmp_path / "eval_grpo")
    assert grpo["mean_box_iou_reward"] != sft["mean_box_iou_reward"], (sft, grpo)  # GRPO updated the model
    assert grpo["mean_box_iou_reward"] >= sft["mean_box_iou_reward"] + MIN_GAIN, (sft, grpo)
    # F1@0.5 counts whole boxes (1/32 each) and moves by one or two either way between runs.
    assert grpo["parse_rate"] >= sft["parse_rate"] - 1 / NUM_VAL, (sft, grpo)
    assert grpo["box_f1@0.5"] >= sft["box_f1@0.5"] - 2 / NUM_VAL, (sft, grpo)

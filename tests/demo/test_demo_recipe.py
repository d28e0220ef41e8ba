"""The CPU demo recipe learns to localise: a shortened ``scripts/sft.sh`` demo run beats the image-blind guess.

Uses the demo-size model and the ``demo`` toy-data preset, the learning rates, batch size, warm-up and
soft-CE sigma of the CPU demo (read from ``demo/sft_cpu_defaults.sh``, which ``scripts/sft.sh`` sources),
and a 200-step schedule instead of its 600. It is the regression test for the quickstart's held-out box F1 (README
"What the quickstart shows today"); 2-3 minutes on 2 cores (F1 0.875 on the 32 held-out images there).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

STEPS = 200


def cpu_defaults_file(script: str) -> Path:
    """The file of the demo recipe that ``scripts/<script>`` sources: ``demo/<stage>_demo_recipe.sh`` (``sft.sh``:
    for the demo model on any machine; ``grpo.sh``: on a CPU, and on GPUs under ``DEMO_RECIPE=1``)."""
    return REPO_ROOT / "demo" / f"{Path(script).stem}_demo_recipe.sh"


def script_default(script: str, name: str) -> str:
    """The CPU-demo default of ``name`` for ``scripts/<script>``: the first ``${NAME:-value}`` of its
    defaults file (:func:`cpu_defaults_file`)."""
    path = cpu_defaults_file(script)
    match = re.search(rf"\$\{{{name}:-([^}}]+)\}}", path.read_text())
    if match is None:
        raise AssertionError(f"{path.relative_to(REPO_ROOT)} sets no default for {name}")
    return match.group(1)


def sft_demo_default(name: str) -> str:
    """The CPU-demo default of ``name`` for scripts/sft.sh."""
    return script_default("sft.sh", name)


def demo_sft_argv(config: Path, output_dir: Path, steps: int) -> list[str]:
    """``train.py`` arguments of the scripts/sft.sh CPU demo, shortened to ``steps`` steps (no saving mid-run)."""
    return ["--config", str(config), "--output_dir", str(output_dir), "--tune_mm_vision", "True",
            "--tune_mm_mlp", "True", "--tune_mm_llm", "True", "--bf16", "False", "--max_steps", str(steps),
            "--per_device_train_batch_size", sft_demo_default("BATCH_SIZE"), "--learning_rate", sft_demo_default("LR"),
            "--mm_projector_lr", sft_demo_default("MM_PROJECTOR_LR"),
            "--vision_tower_lr", sft_demo_default("VISION_TOWER_LR"),
            "--warmup_ratio", sft_demo_default("WARMUP_RATIO"), "--weight_decay", "0.01", "--max_grad_norm", "1",
            "--lr_scheduler_type", "cosine", "--logging_steps", "10", "--save_strategy", "no", "--report_to", "none",
            "--disable_tqdm", "True", "--seed", "42", "--dataloader_num_workers", "0",
            "--use_soft_ce_for_coords", "True", "--coord_sigma", sft_demo_default("COORD_SIGMA")]


def demo_configs(folder: Path, data_root: Path, model: Path | None = None) -> Path:
    """A copy of configs/ in ``folder`` whose ``_base_`` files point at ``data_root`` (and ``model``); returns it."""
    copy = Path(shutil.copytree(REPO_ROOT / "configs", folder / "configs"))
    edits = [("data.py", "data_root", data_root)] + ([("sft.py", "model_name_or_path", model)] if model else [])
    for base, key, value in edits:
        path = copy / "_base_" / base
        text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {str(value)!r}", path.read_text())
        assert count == 1, f"configs/_base_/{base} sets {key} {count} times: update this helper"
        path.write_text(text)
    return copy


def test_demo_configs_point_at_the_given_data_and_model(tmp_path: Path) -> None:
    from dataset.config_checks import load_data_config

    configs = demo_configs(tmp_path, tmp_path / "toy", tmp_path / "model")
    sft, grpo = load_data_config(configs / "sft.py"), load_data_config(configs / "grpo.py")
    assert sft.model_name_or_path == str(tmp_path / "model")
    assert sft.train_dataset.datasets[0].img_tsv_file == f"{tmp_path}/toy/toy_grounding_train.images.tsv"
    assert grpo.val_dataset[0].ann_tsv_file == f"{tmp_path}/toy/toy_grounding_val.annotations.tsv"


def test_sft_demo_default_reads_the_demo_defaults_file() -> None:
    assert sft_demo_default("LR") == "1e-3" and sft_demo_default("COORD_SIGMA") == "3"
    assert sft_demo_default("BATCH_SIZE") == "8" and sft_demo_default("WARMUP_RATIO") == "0.05"
    assert "source demo/sft_demo_recipe.sh" in (REPO_ROOT / "scripts" / "sft.sh").read_text()


def test_demo_recipe_learns_boxes_from_pixels(tmp_path: Path) -> None:
    from demo.quickstart_report import blind_baseline
    from demo.tiny_model import build_tiny_rex_omni
    from demo.toy_data import make_toy_datasets
    from finetuning.arguments import parse_args
    from finetuning.train import run_training, setup_logging
    from tools import evaluate
    from tools.make_toy_data import PRESETS

    model = build_tiny_rex_omni(REPO_ROOT / "work_dirs" / "models" / "rex-omni-demo", size="demo")
    batch_size = int(sft_demo_default("BATCH_SIZE"))
    scene = {**PRESETS["demo"], "num_train": STEPS * batch_size, "num_val": 32}
    toy = tmp_path / "toy"
    make_toy_datasets(str(toy), seed=0, **scene)
    config = demo_configs(tmp_path, toy, model) / "sft.py"

    out = tmp_path / "sft"
    args = parse_args(demo_sft_argv(config, out, STEPS))
    setup_logging(args[2])
    run_training(*args)

    assert evaluate.main(["--model", str(out), "--split", str(toy / "toy_grounding_val"), "--task", "grounding",
                          "--config", str(config), "--output_dir", str(tmp_path / "eval"), "--batch_size", "16",
                          "--num_visualisations", "0"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    blind = blind_baseline(toy)
    assert metrics["parse_rate"] >= 0.9, metrics
    assert metrics["box_f1@0.5"] >= 0.5, metrics  # the issue asks for 0.3 after the full run
    assert metrics["box_f1@0.5"] >= blind["box_f1@0.5"] + 0.25, (metrics, blind)

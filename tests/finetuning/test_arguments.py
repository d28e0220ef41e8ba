"""Argument parsing: CLI > config > defaults, and --help documents every flag."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from finetuning.arguments import build_parser, parse_args

SEED_FLAGS = (
    "--config --deepspeed --output_dir --data_flatten --tune_mm_vision --tune_mm_mlp --tune_mm_llm --bf16 "
    "--num_train_epochs --per_device_train_batch_size --gradient_accumulation_steps --learning_rate "
    "--mm_projector_lr --vision_tower_lr --optim --warmup_ratio --weight_decay --max_grad_norm "
    "--lr_scheduler_type --logging_steps --model_max_length --gradient_checkpointing --dataloader_num_workers "
    "--save_strategy --save_steps --save_total_limit --run_name --report_to --model_name_or_path "
    "--use_soft_ce_for_coords --coord_sigma --attn_implementation --min_pixels --max_pixels"
).split()


def test_help_lists_every_flag() -> None:
    text = build_parser().format_help()
    for flag in SEED_FLAGS:
        assert flag in text, flag


def _model(tmp_path: Path, name: str) -> str:
    """A folder that passes the model-path check (config.json present)."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text("{}")
    return str(folder)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "cfg.py"
    path.write_text(f'model_name_or_path = "{_model(tmp_path, "from-config")}"\nmin_pixels = 3136\n'
                    'learning_rate = 0.5\ntrain_dataset = dict(type="x")\n')
    return path


def test_cli_overrides_config_and_config_overrides_defaults(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    from_cli = _model(tmp_path, "from-cli")
    model, data, train, loaded = parse_args(["--config", str(cfg), "--model_name_or_path", from_cli,
                                            "--tune_mm_llm", "True", "--output_dir", str(tmp_path / "o")])
    assert model.model_name_or_path == from_cli  # CLI wins
    assert train.learning_rate == 0.5 and data.min_pixels == 3136  # config beats defaults
    assert train.weight_decay == 0.0 and data.max_pixels is None  # defaults
    assert loaded.train_dataset["type"] == "x"
    _, _, train2, _ = parse_args(["--config", str(cfg), "--tune_mm_llm", "--learning_rate", "0.25",
                                  "--output_dir", str(tmp_path / "o")])
    assert train2.learning_rate == 0.25


def test_default_output_dir_and_warmup_ratio(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _, _, train, _ = parse_args(["--config", str(cfg), "--tune_mm_llm", "True", "--warmup_ratio", "0.1"])
    assert Path(train.output_dir) == Path("work_dirs") / "cfg"
    assert train.warmup_steps == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [([], "nothing to train"), (["--tune_mm_llm", "True", "--coord_sigma", "0"], "coord_sigma")],
)
def test_invalid_values_name_the_key(tmp_path: Path, extra: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_args(["--config", str(_config(tmp_path)), "--output_dir", str(tmp_path / "o"), *extra])


def test_activation_checkpointing_flag_sets_checkpointing_without_a_deprecation_warning(tmp_path: Path) -> None:
    # sft.sh passes --activation_checkpointing; transformers 5 warns on the older --gradient_checkpointing.
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        _, _, train, _ = parse_args(["--config", str(_config(tmp_path)), "--tune_mm_llm", "True",
                                     "--output_dir", str(tmp_path / "o"), "--activation_checkpointing", "True"])
    assert train.activation_checkpointing is True
    assert "--activation_checkpointing" in (Path(__file__).resolve().parents[2] / "scripts" / "sft.sh").read_text()


@pytest.mark.parametrize("flag", ["--use_liger", "--use_liger_kernel"])
def test_use_liger_turns_on_kernels_and_fused_linear_ce(tmp_path: Path, flag: str) -> None:
    model, _, train, _ = parse_args(["--config", str(_config(tmp_path)), "--tune_mm_llm", "True",
                                     "--output_dir", str(tmp_path / "o"), flag, "True"])
    assert (model.liger, model.linear_ce, model.use_liger) == ("on", "liger", True)
    assert train.use_liger_kernel is False  # HF's own class patch and loss stay off
    plain, _, _, _ = parse_args(["--config", str(_config(tmp_path)), "--tune_mm_llm", "True",
                                 "--output_dir", str(tmp_path / "o")])
    assert (plain.liger, plain.linear_ce, plain.use_liger) == ("auto", "off", False)


@pytest.mark.parametrize(("flags", "message"), [
    (["--use_liger", "True", "--liger", "off"], "use_liger True turns Liger's kernels on, but liger is off"),
    (["--use_liger", "True", "--linear_ce", "chunked"], "use_liger True uses Liger's fused linear CE, but linear_ce"),
    (["--use_liger_kernel", "True", "--liger", "off"], "use_liger_kernel True turns Liger's kernels on"),
])
def test_use_liger_conflicts_name_both_flags(tmp_path: Path, flags: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_args(["--config", str(_config(tmp_path)), "--tune_mm_llm", "True", "--output_dir", str(tmp_path / "o"),
                    *flags])

"""SFT user mistakes: one line on stderr, exit code 2, no traceback, before any process group starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from finetuning import check_args, train

REPO = Path(__file__).resolve().parents[2]


def _model(tmp_path: Path) -> str:
    (tmp_path / "model").mkdir(exist_ok=True)
    (tmp_path / "model" / "config.json").write_text("{}")
    return str(tmp_path / "model")


def _config(tmp_path: Path, tsv: str = "") -> str:
    path = tmp_path / "cfg.py"
    path.write_text(f'model_name_or_path = "{_model(tmp_path)}"\n'
                    f'train_dataset = dict(type="x", img_tsv_file="{tsv or path}", ann_tsv_file="{path}", '
                    f'ann_lineidx_file="{path}")\n')
    return str(path)


CASES = {
    "missing config": (lambda t: ["--config", str(t / "nope.py")], "--config"),
    "missing model": (lambda t: ["--config", _config(t), "--model_name_or_path", "/nonexistent/model"],
                      "model_name_or_path /nonexistent/model: no such directory"),
    "model folder without config.json": (lambda t: ["--config", _config(t), "--model_name_or_path", str(t)],
                                         "no config.json"),
    "hub id not cached": (lambda t: ["--config", _config(t), "--model_name_or_path", "nobody/no-such-model"],
                          "not in the Hugging Face cache"),
    "missing data file": (lambda t: ["--config", _config(t, tsv=str(t / "gone.tsv"))],
                          "train_dataset.img_tsv_file="),
    "unknown flag": (lambda t: ["--config", _config(t), "--no_such_flag", "1"], "--no_such_flag"),
    "bad flag type": (lambda t: ["--config", _config(t), "--per_device_train_batch_size", "many"],
                      "--per_device_train_batch_size"),
    "bad model value": (lambda t: ["--config", _config(t), "--tune_mm_llm", "True", "--coord_sigma", "0"],
                        "coord_sigma"),
    "bad choice": (lambda t: ["--config", _config(t), "--attn_implementation", "fast"], "--attn_implementation"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_args_reports_one_line_and_exit_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv_of, needle = CASES[case]
    assert check_args.main(["--tune_mm_llm", "True", *argv_of(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err, err


def test_check_args_runs_the_model_folder_check_unless_skipped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # _model() holds config.json and nothing else: the arguments pass, the model-folder check does not.
    argv = ["--tune_mm_llm", "True", "--config", _config(tmp_path)]
    assert check_args.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"check_model.py: {tmp_path / 'model'}: "), err
    assert check_args.main(["--skip_model_check", *argv]) == 0
    assert capsys.readouterr().err == ""


def test_check_args_checks_the_model_the_flags_name(tmp_path: Path, tiny_model_dir: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    # The config names the bare folder; --model_name_or_path wins, and that model is the one checked.
    argv = ["--tune_mm_llm", "True", "--config", _config(tmp_path), "--model_name_or_path", str(tiny_model_dir)]
    assert check_args.main(argv) == 0
    out, err = capsys.readouterr()
    assert err == "" and f"model folder: {tiny_model_dir}" in out and out.rstrip().endswith("check_model.py: OK")


def test_train_main_reports_a_bad_training_value_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Values checked only by HF TrainingArguments still come back as one line and exit 2.
    argv = ["--config", _config(tmp_path), "--tune_mm_llm", "True", "--output_dir", str(tmp_path / "o"),
            "--lr_scheduler_type", "sometimes"]
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sometimes" in err, err


def _run(cmd: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "REX_SKIP_INSTALL": "1", "PYTHONPATH": str(REPO), **env}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=full_env, timeout=300)


@pytest.mark.slow
def test_sft_sh_with_a_missing_model_is_one_line() -> None:
    result = _run(["bash", "scripts/sft.sh"], MODEL_PATH="/nonexistent", GPUS_PER_NODE="0")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == ["error: model_name_or_path /nonexistent: no such directory"]


@pytest.mark.slow
def test_sft_sh_with_a_bad_flag_is_one_line(tmp_path: Path) -> None:
    result = _run(["bash", "scripts/sft.sh", "--config", _config(tmp_path), "--bogus", "1"],
                  MODEL_PATH=_model(tmp_path), GPUS_PER_NODE="0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "--bogus" in result.stderr, result.stderr


@pytest.mark.slow
def test_train_py_as_a_script_is_one_line() -> None:
    result = _run([sys.executable, "-m", "finetuning.train", "--config", "configs/nope.py"])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: --config configs/nope.py: no such file (e.g. configs/sft.py)"]

"""GRPO user mistakes: one line on stderr, exit code 2, no traceback, before Ray starts; the original
README's ``--data.config_path`` spelling is accepted."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from verl.trainer import main as grpo_main
from verl.trainer.config import ConfigError, load_config, normalize_cli

REPO = Path(__file__).resolve().parents[2]
YAML = REPO / "verl" / "configs" / "config.yaml"


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A launch directory with a data config, the prompt template, the reward file and a model folder."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "grpo.py").write_text("train_dataset = []\n")
    (tmp_path / "configs" / "other.py").write_text("train_dataset = []\n")
    (tmp_path / "verl" / "configs").mkdir(parents=True)
    shutil.copy(REPO / "verl" / "configs" / "r1v_format.jinja", tmp_path / "verl" / "configs" / "r1v_format.jinja")
    (tmp_path / "verl" / "configs" / "reward_func.py").write_text("def compute_score(p, g):\n    return []\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


BASE = [f"config={YAML}", "worker.actor.model.model_path=model"]


def test_original_flag_spellings_are_accepted(run_dir: Path) -> None:
    assert normalize_cli(["--data.config_path=a.py", "--trainer.seed", "3", "x=1"]) == [
        "data.config_path=a.py", "trainer.seed=3", "x=1"]
    for spelling in (["--data.config_path=configs/other.py"], ["--data.config_path", "configs/other.py"]):
        assert load_config([*BASE, *spelling]).data.config_path == str(run_dir / "configs" / "other.py")
    with pytest.raises(ConfigError, match="no value follows"):
        normalize_cli(["--data.config_path"])


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("worker.rollout.nn=3", "unknown key 'worker.rollout.nn'"),
        ("worker.rollout.n=abc", "worker.rollout.n: expected int"),
        ("data.config_path=nope.py", "data.config_path: file not found"),
        ("--data.config_path=configs/missing_data.py", "data file not found: train_dataset[0].image_tsv_file="),
        ("worker.actor.model.model_path=/nonexistent/model",
         "worker.actor.model.model_path /nonexistent/model: no such directory"),
        ("worker.actor.model.model_path=nobody/no-such-model", "not a local folder and not in the Hugging Face cache"),
        ("worker.actor.model.model_path=configs", "configs: folder has no config.json"),
        # /proc passes permission bits as root; the probe folder cannot be made there
        ("trainer.save_checkpoint_path=/proc/grpo_out", "trainer.save_checkpoint_path /proc/grpo_out: cannot write"),
        ("trainer.save_checkpoint_path=configs/grpo.py/out", "cannot write"),
    ],
)
def test_check_reports_one_line_and_exit_2(run_dir: Path, capsys: pytest.CaptureFixture, override: str,
                                           needle: str) -> None:
    (run_dir / "configs" / "missing_data.py").write_text(
        "train_dataset = [dict(type='x', image_tsv_file='gone.tsv')]\n")
    assert grpo_main.main(["--check", *BASE, override]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err, err


def test_check_passes_a_good_configuration(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert grpo_main.main(["--check", "--skip_model_check", *BASE]) == 0
    assert capsys.readouterr().err == ""


def test_check_runs_the_model_folder_check(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    # The fixture's model folder has config.json and nothing else: the model check names it in one line.
    assert grpo_main.main(["--check", *BASE]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"check_model.py: {run_dir / 'model'}: "), err


def test_check_passes_a_good_model_folder(run_dir: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert grpo_main.main(["--check", f"config={YAML}", f"worker.actor.model.model_path={tiny_model_dir}"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.rstrip().endswith("check_model.py: OK") and f"model folder: {tiny_model_dir}" in out


@pytest.mark.slow
def test_grpo_sh_with_a_bad_key_is_one_line(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"")
    config = tmp_path / "data.py"
    config.write_text("train_dataset = []\n")
    env = {**os.environ, "REX_SKIP_INSTALL": "1", "PYTHONPATH": str(REPO), "MODEL_PATH": str(model),
           "CONFIG": str(config), "OUTPUT_PATH": str(tmp_path / "out")}
    result = subprocess.run(["bash", "scripts/grpo.sh", "worker.rollout.nn=3"], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'worker.rollout.nn'" in lines[0], result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("prefix", ["--", ""])
def test_grpo_sh_accepts_the_original_config_path_spelling(prefix: str, tmp_path: Path) -> None:
    """``bash scripts/grpo.sh --data.config_path=...`` (the original README) reaches the check and wins over
    CONFIG: the data config it names, whose data file is missing, is the one reported."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"")
    (tmp_path / "data.py").write_text("train_dataset = []\n")
    named = tmp_path / "named.py"
    named.write_text("train_dataset = [dict(type='x', image_tsv_file='gone.tsv')]\n")
    env = {**os.environ, "REX_SKIP_INSTALL": "1", "PYTHONPATH": str(REPO), "MODEL_PATH": str(model),
           "CONFIG": str(tmp_path / "data.py"), "OUTPUT_PATH": str(tmp_path / "out"), "CHECK_MODEL": "0"}
    result = subprocess.run(["bash", "scripts/grpo.sh", f"{prefix}data.config_path={named}"], capture_output=True,
                            text=True, cwd=REPO, env=env, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"data.config_path {named}" in lines[0] and "data file not found" in lines[0], lines

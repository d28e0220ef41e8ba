"""Every tool reports a user mistake (bad flag, bad value, missing path) in one line with exit code 2."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

TOOLS = ["convert_json_data_to_tsv", "evaluate", "make_tiny_model", "make_toy_data",
         "merge_rl_checkpoints_to_hg_version", "print_reward_curve", "quickstart_report", "vis_tsv_dataset"]


def _exit_code_and_stderr(tool: str, argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    module = importlib.import_module(f"tools.{tool}")
    with pytest.raises(SystemExit) as exc:
        module.main(argv)
    return exc.value.code, capsys.readouterr().err


@pytest.mark.parametrize("tool", TOOLS)
def test_unknown_flag_is_one_line(tool: str, capsys: pytest.CaptureFixture) -> None:
    code, err = _exit_code_and_stderr(tool, ["--no_such_flag"], capsys)
    assert code == 2 and err.count("\n") == 1 and "error:" in err, err


def _missing(tmp_path: Path) -> str:
    return str(tmp_path / "missing")


MISSING = {
    "convert_json_data_to_tsv": (lambda t: ["--json_file", _missing(t), "--image_root_path", str(t),
                                            "--save_image_tsv_path", "a", "--save_ann_tsv_path", "b",
                                            "--save_ann_lineidx_path", "c"], "--json_file"),
    "vis_tsv_dataset": (lambda t: ["--img_tsv_file", _missing(t), "--ann_tsv_file", "b",
                                   "--ann_lineidx_file", "c"], "--img_tsv_file"),
    "evaluate": (lambda t: ["--model", _missing(t), "--split", "x"], "--model"),
    "merge_rl_checkpoints_to_hg_version": (lambda t: ["--local_dir", _missing(t)], "--local_dir"),
}


@pytest.mark.parametrize("tool", sorted(MISSING))
def test_missing_input_path_is_one_line(tool: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv_of, flag = MISSING[tool]
    code, err = _exit_code_and_stderr(tool, argv_of(tmp_path), capsys)
    assert code == 2 and err.count("\n") == 1 and f"{flag} {_missing(tmp_path)}: no such" in err, err

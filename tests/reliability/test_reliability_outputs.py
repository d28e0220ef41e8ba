"""Output paths that cannot be written are one line and exit 2, before any model or data is loaded.

Each tool gets an output path below a regular file (``blocker/out``): a path no user can write,
whoever runs the test. The check must fire before the slow part, so the inputs are as small as the
tool allows, and some are missing on purpose (a tool that reached them would fail differently).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from reliability_helpers import write_triple

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def blocked(tmp_path: Path) -> Path:
    """``tmp/blocker/out``: its parent is a regular file."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    return blocker / "out"


def one_line_exit_2(capsys: pytest.CaptureFixture[str], code: int | None, *expected: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert all(text in err for text in expected), err
    return err


def run_main(main, argv: list[str]) -> int | None:  # noqa: ANN001 - any tool's main
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code  # type: ignore[return-value]


# Nothing can be created under /proc, though root passes its permission bits (os.access says writable).
UNDER_PROC = "/proc/rex-omni-test/out"


def test_output_checks_create_a_probe_rather_than_trust_permission_bits(tmp_path: Path, blocked: Path) -> None:
    from dataset.output_paths import output_dir_problem, output_file_problem

    assert "/proc" in output_dir_problem(UNDER_PROC)
    assert "/proc" in output_file_problem(f"{UNDER_PROC}/metrics.json")
    assert "not a directory" in output_dir_problem(str(blocked))  # below a regular file
    assert "not a directory" in output_file_problem(str(blocked / "metrics.json"))
    # A writable place passes, and the probe is gone afterwards.
    assert output_dir_problem(str(tmp_path / "new" / "out")) is None
    assert output_file_problem(str(tmp_path / "report.html")) is None and output_dir_problem(str(tmp_path)) is None
    assert sorted(path.name for path in tmp_path.iterdir()) == ["blocker"]


def test_tools_refuse_an_output_under_proc_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from finetuning.check_args import main as check_args
    from tools.evaluate import main as evaluate
    from tools.vis_tsv_dataset import main as vis

    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("")
    code = run_main(evaluate, ["--predictions", str(predictions), "--output_dir", UNDER_PROC])
    one_line_exit_2(capsys, code, "--output_dir", UNDER_PROC, "cannot create anything in /proc")
    paths = write_triple(tmp_path)
    code = run_main(vis, ["--img_tsv_file", paths.image_tsv, "--ann_tsv_file", paths.ann_tsv,
                          "--ann_lineidx_file", paths.lineidx, "--output_dir", UNDER_PROC])
    one_line_exit_2(capsys, code, "--output_dir", UNDER_PROC)
    monkeypatch.chdir(REPO)
    code = check_args(["--skip_model_check", "--config", "configs/sft.py", "--tune_mm_llm", "True",
                       "--output_dir", UNDER_PROC])
    one_line_exit_2(capsys, code, "--output_dir", UNDER_PROC)


def test_converters_refuse_an_unwritable_output(tmp_path: Path, blocked: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from tools.convert_coco_to_tsv import main as convert_coco
    from tools.convert_json_data_to_tsv import main as convert_json

    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    code = run_main(convert_coco, ["--format", "coco", "--ann_file", str(coco), "--image_root", str(tmp_path),
                                   "--output_prefix", str(blocked / "data")])
    one_line_exit_2(capsys, code, "--output_prefix", "not a directory")
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text("")
    code = run_main(convert_json, ["--json_file", str(jsonl), "--image_root_path", str(tmp_path),
                                   "--save_image_tsv_path", str(blocked / "i.tsv"),
                                   "--save_ann_tsv_path", str(tmp_path / "a.tsv"),
                                   "--save_ann_lineidx_path", str(tmp_path / "a.lineidx")])
    one_line_exit_2(capsys, code, "--save_image_tsv_path")


def test_visualiser_refuses_an_unwritable_output(tmp_path: Path, blocked: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from tools.vis_tsv_dataset import main as vis

    paths = write_triple(tmp_path)
    code = run_main(vis, ["--img_tsv_file", paths.image_tsv, "--ann_tsv_file", paths.ann_tsv,
                          "--ann_lineidx_file", paths.lineidx, "--output_dir", str(blocked)])
    one_line_exit_2(capsys, code, "--output_dir", str(blocked))


def test_evaluate_refuses_an_unwritable_output_before_the_model(tmp_path: Path, blocked: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from tools.evaluate import main as evaluate

    model = tmp_path / "not_a_model"  # never loaded: the output check comes first
    model.mkdir()
    code = run_main(evaluate, ["--model", str(model), "--split", str(tmp_path / "nope"), "--output_dir", str(blocked)])
    one_line_exit_2(capsys, code, "--output_dir")
    code = run_main(evaluate, ["--model", str(model), "--split", str(tmp_path / "nope"),
                               "--output_dir", str(tmp_path / "eval"), "--html", str(blocked / "r.html")])
    one_line_exit_2(capsys, code, "--html")
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("")
    code = run_main(evaluate, ["--predictions", str(predictions), "--output_dir", str(blocked)])
    one_line_exit_2(capsys, code, "--output_dir")


def test_mergers_refuse_an_unwritable_output_before_loading(tmp_path: Path, blocked: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from tools.merge_lora import main as merge_lora
    from tools.merge_rl_checkpoints_to_hg_version import main as merge_rl

    code = run_main(merge_lora, ["--adapter", str(tmp_path / "absent"), "--output_dir", str(blocked)])
    one_line_exit_2(capsys, code, "--output_dir")
    code = run_main(merge_lora, ["--adapter", str(tmp_path / "absent"), "--output", str(blocked)])  # the old name
    one_line_exit_2(capsys, code, "--output_dir")
    code = run_main(merge_rl, ["--local_dir", str(tmp_path), "--output_dir", str(blocked)])
    one_line_exit_2(capsys, code, "--output_dir")


def test_sft_pre_flight_refuses_an_unwritable_output_dir(blocked: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from finetuning.check_args import main as check_args

    monkeypatch.chdir(REPO)
    code = check_args(["--skip_model_check", "--config", "configs/sft.py", "--tune_mm_llm", "True",
                       "--output_dir", str(blocked)])
    one_line_exit_2(capsys, code, "--output_dir", "not a directory")


def test_grpo_sh_refuses_an_unwritable_output_path(tmp_path: Path, blocked: Path) -> None:
    model = tmp_path / "model"  # a complete-looking HF folder: no demo model is built
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"")
    env = {"PATH": os.environ["PATH"], "REX_SKIP_INSTALL": "1", "OUTPUT_PATH": str(blocked),
           "MODEL_PATH": str(model), "HOME": os.environ.get("HOME", "/tmp")}
    result = subprocess.run(["bash", "scripts/grpo.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [f"[grpo] error: OUTPUT_PATH={blocked}: cannot create or write that folder"]

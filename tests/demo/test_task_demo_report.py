"""The task demo's report: tables from metrics.json files written in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

from demo.task_demo_report import format_report, load_results, main


def _write(root: Path, stage: str, task: str, metrics: dict, blind: dict | None = None) -> None:
    folder = root / stage / task
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if blind is not None:
        (folder / "blind_guess.json").write_text(json.dumps(blind))


def test_report_rows_and_margins(tmp_path: Path) -> None:
    _write(tmp_path, "untrained", "gui_pointing", {"parse_rate": 0.0, "mean_gui_hit_reward": 0.0})
    _write(tmp_path, "blind", "gui_pointing", {"parse_rate": 1.0, "mean_gui_hit_reward": 0.1,
                                              "protocol_gui_accuracy": 0.1}, {"kept": "densest point per instruction"})
    _write(tmp_path, "trained", "gui_pointing", {"parse_rate": 1.0, "mean_gui_hit_reward": 0.55,
                                                "protocol_gui_accuracy": 0.6})
    _write(tmp_path, "blind", "ocr_box", {"parse_rate": 1.0, "protocol_box_f1@0.5": 0.01})
    _write(tmp_path, "trained", "ocr_box", {"parse_rate": 1.0, "protocol_box_f1@0.5": 0.2})
    report = format_report(load_results(tmp_path))
    lines = report.splitlines()
    assert "| gui_pointing | mean_gui_hit_reward | 0.000 | 0.100 | 0.550 | +0.450 |" in lines
    assert "| ocr_box | protocol_box_f1@0.5 | - | 0.010 | 0.200 | +0.190 |" in lines
    assert "| image-blind guess: densest point per instruction | 1.000 | **0.100** | 0.100 |" in lines
    assert "Trained minus image-blind on mean_gui_hit_reward: +0.450 (target +0.3: reached)." in lines
    assert "Trained minus image-blind on protocol_box_f1@0.5: +0.190 (target +0.3: NOT reached)." in lines


def test_main_writes_the_report(tmp_path: Path) -> None:
    _write(tmp_path / "eval", "trained", "keypoint", {"parse_rate": 0.5, "mean_keypoint_oks_reward": 0.25})
    out = tmp_path / "report.md"
    assert main(["--eval_root", str(tmp_path / "eval"), "--output", str(out)]) == 0
    assert "| keypoint | mean_keypoint_oks_reward | - | - | 0.250 | - |" in out.read_text().splitlines()

"""Reward-curve summary of metrics.jsonl (used at the end of scripts/grpo.sh)."""

from __future__ import annotations

import json

import pytest

from tools.print_reward_curve import main
from verl.trainer.reward_curve import curve_windows, format_curve, load_metrics


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_windows_and_resumed_duplicates(tmp_path):
    rows = [{"step": s, "reward/overall": s / 10} for s in range(1, 11)]
    rows += [{"step": 10, "reward/overall": 2.0}, {"step": 0, "val/reward/overall": 0.5}]  # resumed run re-logs 10
    loaded = load_metrics(_write(tmp_path / "m.jsonl", rows))
    assert [r["step"] for r in loaded] == list(range(11)) and loaded[-1]["reward/overall"] == 2.0
    summary = curve_windows(loaded)
    assert summary.window == 2 and summary.start == pytest.approx(0.15) and summary.end == pytest.approx(1.45)
    assert summary.middle == pytest.approx(0.55) and summary.improved
    text = format_curve(loaded)
    assert "start 0.1500" in text and "10:2.000" in text and "validation: 0:0.500" in text


def test_missing_key_and_cli(tmp_path, capsys):
    path = _write(tmp_path / "m.jsonl", [{"step": 1, "reward/overall": None}])
    with pytest.raises(ValueError, match="reward/overall"):
        curve_windows(load_metrics(path))
    assert main([str(path)]) == 1 and "reward/overall" in capsys.readouterr().err
    assert main([str(tmp_path / "nope.jsonl")]) == 1
    _write(path, [{"step": s, "reward/overall": 0.1} for s in range(1, 4)])
    assert main([str(path)]) == 0 and "over 3 steps" in capsys.readouterr().out

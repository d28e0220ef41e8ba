"""The quickstart summary reads per-stage metrics and the GRPO curve, and says what is missing."""

import json

from finetuning.quickstart_report import format_metrics_table, load_stage_metrics, quickstart_report


def _write_metrics(root, stage, f1):
    folder = root / "eval" / stage
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"num_samples": 8, "parse_rate": 1.0, "box_f1@0.5": f1}))


def test_table_has_a_row_per_present_stage_in_pipeline_order(tmp_path):
    _write_metrics(tmp_path, "sft", 0.5)
    _write_metrics(tmp_path, "before", 0.0)
    metrics = load_stage_metrics(tmp_path / "eval")
    assert set(metrics) == {"before", "sft"}
    lines = format_metrics_table(metrics).splitlines()
    assert lines[2].startswith("untrained demo model") and lines[3].startswith("after SFT")
    assert "0.5000" in lines[3] and len(lines) == 4


def test_report_includes_the_reward_curve_or_says_it_is_missing(tmp_path):
    _write_metrics(tmp_path, "before", 0.0)
    assert "no GRPO metrics" in quickstart_report(tmp_path)
    (tmp_path / "grpo").mkdir()
    rows = [{"step": s, "reward/overall": s / 10} for s in range(1, 11)]
    (tmp_path / "grpo" / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    report = quickstart_report(tmp_path)
    assert "GRPO training reward" in report and "start 0.1500" in report and "end 0.9500" in report

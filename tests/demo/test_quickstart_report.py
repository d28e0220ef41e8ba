"""The quickstart summary reads per-stage metrics and the GRPO curve, and says what is missing."""

import json

from demo.quickstart_report import format_metrics_table, load_stage_metrics, quickstart_report


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


def _write_grounding(prefix, images):
    from PIL import Image

    from dataset.tsv import TsvPaths, TsvWriter, encode_image

    jpeg = encode_image(Image.new("RGB", (40, 40)))
    with TsvWriter(*TsvPaths.from_prefix(prefix)) as writer:
        for boxes in images:
            writer.add(jpeg, {"boxes": [{"bbox": b, "phrase": "star"} for b in boxes]})


def test_blind_baseline_answers_the_mean_training_box(tmp_path):
    from demo.quickstart_report import blind_baseline

    toy = tmp_path / "toy_data"
    toy.mkdir()
    assert blind_baseline(toy) is None  # no data yet
    # Mean training box: (10, 10, 30, 30). Val: the same box (IoU 1), one shifted by 10 px (IoU 1/7), a null.
    _write_grounding(toy / "toy_grounding_train", [[[0, 0, 20, 20]], [[20, 20, 40, 40]]])
    _write_grounding(toy / "toy_grounding_val", [[[10, 10, 30, 30], [20, 20, 40, 40]], [None]])
    blind = blind_baseline(toy)
    assert blind["num_gt"] == 2
    assert blind["box_f1@0.5"] == 0.5
    assert abs(blind["mean_iou"] - (1 + 1 / 7) / 2) < 1e-9


def test_sft_loss_curve_samples_the_logged_losses(tmp_path):
    from demo.quickstart_report import sft_loss_curve

    assert sft_loss_curve(tmp_path) is None
    history = [{"step": s, "loss": 10.0 / s} for s in range(1, 11)] + [{"step": 10, "train_runtime": 5.0}]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    curve = sft_loss_curve(tmp_path, points=4)
    assert curve.split("  ") == ["1: 10.000", "4: 2.500", "7: 1.429", "10: 1.000"]
    report = quickstart_report(tmp_path)
    assert "no SFT trainer_state.json found" in report  # the report looks in <work_dirs>/sft_demo


def test_blind_baseline_names_the_file_of_a_bad_annotation(tmp_path):
    import pytest

    from dataset.tsv import TsvFormatError
    from demo.quickstart_report import blind_baseline

    toy = tmp_path / "toy_data"
    toy.mkdir()
    _write_grounding(toy / "toy_grounding_train", [[[0, 0, 20, 20]]])
    _write_grounding(toy / "toy_grounding_val", [[[10, 10, 30, 30]]])
    path = toy / "toy_grounding_val.annotations.tsv"
    offset, _ = path.read_text().split("\t", 1)
    path.write_text(f"{offset}\t{{not json\n")
    with pytest.raises(TsvFormatError, match="toy_grounding_val.annotations.tsv"):
        blind_baseline(toy)

"""tools/plot_run.py (evaluation/run_curves.py): one PNG with loss, reward and validation F1 panels from an
SFT trainer_state.json or a GRPO metrics.jsonl, read back with PIL."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from tools.plot_run import main

BLUE, ORANGE = (31, 119, 180), (255, 127, 14)  # the first two line colours


def sft_run(folder: Path) -> Path:
    """An SFT output folder whose newest checkpoint holds the log: loss 2.0 -> 1.1 over steps 1..10,
    eval loss and protocol F1 at steps 5 and 10."""
    history = [{"step": s, "loss": 2.0 - 0.1 * (s - 1), "learning_rate": 1e-3} for s in range(1, 11)]
    history += [{"step": 5, "eval_loss": 1.8, "eval_protocol_box_mean_f1": 0.2},
                {"step": 10, "eval_loss": 1.5, "eval_protocol_box_mean_f1": 0.6}]
    for step in (5, 10):
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        (folder / f"checkpoint-{step}" / "trainer_state.json").write_text(
            json.dumps({"log_history": [h for h in history if h["step"] <= step]}))
    return folder


def test_sft_curves_png_has_the_three_panels_and_the_loss_line(tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    assert main([str(sft_run(tmp_path / "sft")), "--output", str(out)]) == 0
    with Image.open(out) as image:
        image = image.convert("RGB")
        # loss and validation F1 panels only (this run logs no reward), 240 px each.
        assert image.size == (800, 2 * 240)
        # Loss panel plot area: x 60..790, y 20..210; the first point (step 1, loss 2.0, the maximum) is
        # its top-left corner, the last (step 10, 1.1, the minimum of the training loss) ...
        assert image.getpixel((60, 20)) == BLUE
        # ... and eval_loss (orange) ends at step 10 with 1.5: y = 210 - (1.5 - 1.1) / (2.0 - 1.1) * 190.
        assert image.getpixel((790, round(210 - 0.4 / 0.9 * 190))) == ORANGE
        # F1 panel (second, from y 240): 0.2 -> 0.6, first point at its bottom-left, last at its top-right.
        assert image.getpixel((60, 240 + 210)) == BLUE and image.getpixel((790, 240 + 20)) == BLUE


def test_grpo_metrics_jsonl_and_chosen_keys(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "reward/overall": 0.1 * s, "actor/pg_loss": 0.5} for s in range(1, 5)]
    rows.append({"step": 4, "val/protocol_box_mean_f1": 0.3})  # a step logged twice keeps both rows' keys
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "grpo.png"
    assert main([str(metrics), "--output", str(out)]) == 0
    with Image.open(out) as image:
        assert image.size == (800, 3 * 240)
    assert main([str(metrics), "--keys", "reward/overall", "--output", str(out), "--width", "400"]) == 0
    with Image.open(out) as image:
        assert image.size == (400, 240)


def test_unknown_key_and_missing_run_are_one_line_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "reward/overall": 0.5}) + "\n")
    assert main([str(tmp_path), "--keys", "nope", "--output", str(tmp_path / "x.png")]) == 2
    assert "no metric 'nope'" in capsys.readouterr().err
    assert main([str(tmp_path / "missing"), "--output", str(tmp_path / "x.png")]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err

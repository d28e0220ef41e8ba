"""Evaluation on a COCO JSON split and on its converted TSV, with scripted answers instead of a model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dataset.grammar import compose_answer, quantize_box, quantize_point
from dataset.real_data import SourceOptions, convert_records, iter_source_records
from evaluation.evaluate import iter_samples, run_evaluation
from evaluation.sources import open_split
from tools.evaluate import main


class ScriptedGenerator:
    """Answers the questions in order from a list (run_evaluation asks in sample order)."""

    def __init__(self, answers: Sequence[str]) -> None:
        self.answers = list(answers)

    def generate(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[str]:
        out, self.answers = self.answers[:len(questions)], self.answers[len(questions):]
        return out


def perfect_answers(split: str, task: str, image_root: str | None = None) -> list[str]:
    """The ground truth of every sample, written as the model would answer it."""
    answers = []
    for sample in iter_samples(split, task, image_root=image_root):
        w, h = sample.image.size
        groups = []
        for phrase, targets in sample.ground_truth["answer"].items():
            if task == "grounding":
                groups.append((phrase, [quantize_box(b, w, h) for b in targets["boxes"]] or None))
            else:
                groups.append((phrase, [quantize_point(p, w, h) for p in targets["points"]] or None))
        answers.append(compose_answer(groups))
    return answers


@pytest.mark.parametrize("task", ["grounding", "pointing"])
def test_coco_json_split_perfect_and_empty_answers(real_sources: dict[str, Any], tmp_path: Path, task: str) -> None:
    split, images = str(real_sources["root"] / "coco.json"), str(real_sources["images"])
    n = len(real_sources["expected"]) + 1  # and empty.png, asked for absent categories
    metrics = run_evaluation(ScriptedGenerator(perfect_answers(split, task, images)), split, task, tmp_path / "p",
                             num_visualisations=0, image_root=images)
    if task == "grounding":
        assert metrics["protocol_box_f1@0.5"] == 1.0 and metrics["protocol_box_num_images"] == n
        assert metrics["protocol_box_f1@0.95"] == pytest.approx(1.0)  # codec rounding is < 0.1 px here
        assert metrics["protocol_box_mean_f1"] == pytest.approx(1.0)
    else:
        assert metrics["protocol_point_in_mask_f1"] == 1.0 and metrics["protocol_point_in_box_f1"] == 1.0
    empty = run_evaluation(ScriptedGenerator([""] * n), split, task, tmp_path / "e", num_visualisations=0,
                           image_root=images)
    key = "protocol_box_f1@0.5" if task == "grounding" else "protocol_point_in_mask_f1"
    assert empty[key] == pytest.approx(1 / n)  # only empty.png is right: P = R = 1 there, 0 elsewhere
    rows = [json.loads(x) for x in (tmp_path / "p" / "predictions.jsonl").read_text().splitlines()]
    assert [r["image_path"] for r in rows] == [f"img{i}.png" for i in real_sources["expected"]] + ["empty.png"]
    assert all({"extracted_predictions", "gt", "question", "raw_response", "task_name"} <= set(r) for r in rows)
    assert rows[0]["gt_crowd"] == {real_sources["expected"][1][0].phrase: [[0.0, 0.0, 16.0, 16.0]]}


def test_tsv_and_coco_json_score_alike_and_the_file_rescores(real_sources: dict[str, Any], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    split, images = str(real_sources["root"] / "coco.json"), str(real_sources["images"])
    prefix = str(tmp_path / "coco_val")
    convert_records(iter_source_records(SourceOptions("coco", split)), images, tsv_prefix=prefix, progress=False)
    # Answer every other image perfectly, the rest with nothing: P and R average to 1/2 over images.
    # The converter leaves empty.png (the last image) out, so the JSON split does too here.
    answers = [a if i % 2 == 0 else "" for i, a in enumerate(perfect_answers(split, "grounding", images)[:-1])]
    from_json = run_evaluation(ScriptedGenerator(answers), open_split(split, images, skip_empty=True), "grounding",
                               tmp_path / "j", num_visualisations=0)
    from_tsv = run_evaluation(ScriptedGenerator(answers), prefix, "grounding", tmp_path / "t", num_visualisations=0,
                              html_path=tmp_path / "t" / "report.html")
    protocol = {k: v for k, v in from_json.items() if k.startswith("protocol_")}
    assert protocol == {k: v for k, v in from_tsv.items() if k.startswith("protocol_")}
    assert from_json["protocol_box_precision@0.5"] == 0.5 and from_json["protocol_box_f1@0.5"] == 0.5
    assert (tmp_path / "t" / "report.html").read_text().count('class="card"') == len(answers)
    # The written file scores the same through --predictions, and gets its own page.
    # It never overwrites the model evaluation's metrics.json (parse rate, reward) unless asked.
    model_metrics = (tmp_path / "j" / "metrics.json").read_text()
    capsys.readouterr()
    assert main(["--predictions", str(tmp_path / "j" / "predictions.jsonl")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "j" / "metrics.json").read_text() == model_metrics
    assert main(["--predictions", str(tmp_path / "j" / "predictions.jsonl"), "--html", str(tmp_path / "r.html"),
                 "--image_root", images, "--output_dir", str(tmp_path / "rescored")]) == 0
    rescored = json.loads((tmp_path / "rescored" / "metrics.json").read_text())
    # One name per quantity: the protocol's keys are protocol_* here too, as after a model evaluation.
    assert {k: v for k, v in rescored.items() if k != "predictions"} == protocol
    out = capsys.readouterr().out
    assert "protocol_box_f1@0.5=0.5000" in out
    assert out.splitlines()[-2:] == [f"wrote {tmp_path / 'rescored' / 'metrics.json'}", f"wrote {tmp_path / 'r.html'}"]
    assert main(["--predictions", str(tmp_path / "j" / "predictions.jsonl"), "--overwrite"]) == 0
    assert json.loads((tmp_path / "j" / "metrics.json").read_text())["predictions"].endswith("predictions.jsonl")
    assert (tmp_path / "r.html").read_text().count("data:image/jpeg;base64,") == len(answers)


def test_a_box_answered_on_an_image_without_objects_is_a_false_positive(real_sources: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    split, images = str(real_sources["root"] / "coco.json"), str(real_sources["images"])
    samples = list(iter_samples(split, "grounding", image_root=images))
    assert samples[-1].name == "empty.png"
    asked = samples[-1].ground_truth["answer"]
    assert len(asked) == 3 and all(not t["boxes"] for t in asked.values())  # 3 of the split's categories
    assert all(phrase in samples[-1].question for phrase in asked)
    invented = compose_answer([(next(iter(asked)), [quantize_box([4, 4, 40, 40], 64, 64)])])
    answers = perfect_answers(split, "grounding", images)[:-1] + [invented]
    metrics = run_evaluation(ScriptedGenerator(answers), split, "grounding", tmp_path / "h", num_visualisations=0,
                             image_root=images)
    # 6 images right (P = R = 1), empty.png wrong (a prediction and no GT: P = R = 0): means 6/7.
    assert metrics["protocol_box_num_images"] == 7
    assert metrics["protocol_box_precision@0.5"] == pytest.approx(6 / 7)
    assert metrics["protocol_box_f1@0.5"] == pytest.approx(6 / 7)
    n_gt = sum(len(t["boxes"]) for s in samples for t in s.ground_truth["answer"].values())
    assert metrics["num_predictions"] == n_gt + 1 and metrics["box_precision@0.5"] == pytest.approx(n_gt / (n_gt + 1))
    # --skip_empty_images (open_split's skip_empty) leaves it out: the same answers score 1.
    skipped = run_evaluation(ScriptedGenerator(answers[:-1]), open_split(split, images, skip_empty=True), "grounding",
                             tmp_path / "s", num_visualisations=0)
    assert skipped["protocol_box_num_images"] == 6 and skipped["protocol_box_f1@0.5"] == 1.0


def test_cli_skip_empty_images_flag_reaches_the_split(real_sources: dict[str, Any], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.evaluate as cli

    seen: dict[str, int] = {}
    monkeypatch.setattr(cli, "make_generator", lambda *a, **k: ScriptedGenerator([]))
    monkeypatch.setattr(cli, "run_evaluation", lambda gen, split, *a, **k: seen.setdefault("n", len(split)) and {})
    split, images = str(real_sources["root"] / "coco.json"), str(real_sources["images"])
    for flag, count in (([], 7), (["--skip_empty_images"], 6)):
        seen.clear()
        assert cli.main(["--model", str(tmp_path), "--split", split, "--image_root", images, *flag]) == 0
        assert seen["n"] == count


def test_cli_split_mistakes_exit_2_before_the_model(real_sources: dict[str, Any], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    json_split = str(real_sources["root"] / "coco.json")
    assert main(["--model", str(tmp_path), "--split", json_split]) == 2
    assert "give --image_root" in capsys.readouterr().err
    assert main(["--model", str(tmp_path), "--split", str(tmp_path / "nope")]) == 2
    assert "not a TSV prefix or COCO JSON" in capsys.readouterr().err
    assert main(["--split", json_split]) == 2
    assert "give --model and --split (or --config with a val_dataset), or --predictions FILE" in capsys.readouterr().err
    assert main(["--predictions", str(tmp_path / "missing.jsonl")]) == 2

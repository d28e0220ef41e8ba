"""Evaluate a Rex-Omni checkpoint on a split (TSV or COCO JSON): generate, parse with ``dataset.grammar``, score.

Questions come from the same task function as training (seeded per sample, so every run asks the
same questions). Scores:

* every task: the GRPO reward of each sample (``verl/configs/reward_func.py:compute_score``:
  ``box_iou`` for grounding, ``point_in_box`` for pointing) averaged, and ``parse_rate``, the
  share of answers that parse into at least one phrase group;
* grounding: ``box_f1@0.5``, detection F1 pooled over the split, a prediction being a true
  positive when it has IoU >= 0.5 with a not yet matched GT box of the same phrase (greedy by IoU);
* pointing: ``point_f1``, the same with "point inside the GT box" as the match;
* ``protocol_*``: Rex-Omni's own protocol (per-image P/R at IoU 0.5..0.95, F1 of the means, mean
  F1; point in mask and in box), see :mod:`evaluation.detection_metrics`. Use these to compare
  with published numbers.

``predictions.jsonl`` is in Rex-Omni's evaluation shape (:mod:`evaluation.official_predictions`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dataset.atomic_write import write_json_atomic, write_text_atomic
from dataset.grammar import ParsedGroup, parse_answer
from dataset.sample_source import SampleSource
from dataset.skip_stats import SkipSample
from dataset.task_fns.categories import clean_category_name
from evaluation.official_predictions import official_record, score_records
from evaluation.sources import SplitSource, open_split
from verl.rewards.box_iou import pairwise_iou
from verl.rewards.predictions import predicted_boxes, predicted_points

logger = logging.getLogger(__name__)

TASK_REWARDS = {"grounding": "box_iou", "pointing": "point_in_box"}
STOP_STRINGS = ("<|im_end|>", "<|endoftext|>")


@dataclass
class EvalSample:
    """One question about one image; ``ground_truth`` is the reward schema's dict, ``crowd`` the
    annotation's crowd regions (cleaned phrase -> xyxy boxes)."""

    index: int
    image: Image.Image
    question: str
    ground_truth: dict[str, Any]
    name: str = ""
    crowd: dict[str, list[list[float]]] = field(default_factory=dict)


def default_task_fn(task: str) -> Any:
    """The training task function of ``task`` (``grounding`` or ``pointing``) with its prompt list."""
    from dataset.task_fns import GroundingTaskFn, PointingTaskFn
    from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY, POINTING_TASK_PROMPTS

    if task == "grounding":
        return GroundingTaskFn(task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY)
    if task == "pointing":
        return PointingTaskFn(task_prompts=POINTING_TASK_PROMPTS)
    raise ValueError(f"task must be one of {sorted(TASK_REWARDS)}, got {task!r}")


def task_fn_from_config(config_path: str, task: str) -> Any:
    """The task function of the config's first validation dataset (else its first training dataset).

    It asks with the prompts, negatives and vocabulary the model was trained with. Raises
    ``ValueError`` naming the config when it has no task function, or one of the other task.
    """
    from dataset.config_checks import load_data_config
    from dataset.registry import build
    from dataset.task_fns import GroundingTaskFn, PointingTaskFn

    cfg = load_data_config(config_path)
    expected = {"grounding": GroundingTaskFn, "pointing": PointingTaskFn}[task]
    for key in ("val_dataset", "train_dataset"):
        for dataset in _leaf_datasets(cfg.get(key)):
            if dataset.get("task_fn") is None:
                continue
            task_fn = build(dataset["task_fn"])
            if not isinstance(task_fn, expected):
                raise ValueError(f"{config_path}: the task_fn of {key} is {type(task_fn).__name__}; "
                                 f"--task {task} needs a {expected.__name__}")
            return task_fn
    raise ValueError(f"{config_path}: neither val_dataset nor train_dataset has a task_fn")


def val_split_from_config(config_path: str) -> str:
    """The split to evaluate on that the config names: the TSV prefix of its first ``val_dataset``.

    Raises ``ValueError`` naming the config when it has no ``val_dataset`` with an ``ann_tsv_file``."""
    from dataset.config_checks import load_data_config

    suffix = ".annotations.tsv"
    for dataset in _leaf_datasets(load_data_config(config_path).get("val_dataset")):
        ann_file = str(dataset.get("ann_tsv_file") or "")
        if ann_file.endswith(suffix):
            return ann_file[: -len(suffix)]
    raise ValueError(f"{config_path}: no val_dataset with an ann_tsv_file to evaluate on: give --split "
                     "(a TSV prefix, or a COCO JSON with --image_root)")


def _leaf_datasets(spec: Any) -> list[Any]:
    """Dataset dicts under ``spec``, looking inside ``ConcatDataset``-style ``datasets`` lists."""
    if not isinstance(spec, dict):
        return []
    if "datasets" in spec:
        return [leaf for child in spec["datasets"] for leaf in _leaf_datasets(child)]
    return [spec]


def tsv_paths(split: str) -> tuple[str, str, str]:
    """``prefix`` -> (``prefix.images.tsv``, ``prefix.annotations.tsv``, ``prefix.annotations.tsv.lineidx``)."""
    return f"{split}.images.tsv", f"{split}.annotations.tsv", f"{split}.annotations.tsv.lineidx"


def iter_samples(split: str, task: str, max_samples: int | None = None, seed: int = 0,
                 task_fn: Any = None, image_root: str | None = None) -> Iterator[EvalSample]:
    """Questions and ground truths for the first ``max_samples`` images of the split (a TSV prefix,
    or a COCO JSON with ``image_root``), asked by ``task_fn`` (default: :func:`default_task_fn`)
    through the same sample path as training (``dataset.sample_source``, epoch 0). Unusable samples
    are skipped, counted and logged."""
    yield from _source_samples(open_split(split, image_root), task, max_samples, seed, task_fn)


def _crowd_regions(annotation: dict[str, Any]) -> dict[str, list[list[float]]]:
    regions: dict[str, list[list[float]]] = {}
    for entry in annotation.get("crowd") or []:
        regions.setdefault(clean_category_name(entry["phrase"]), []).append([float(v) for v in entry["bbox"]])
    return regions


class _SplitReader:
    """A ``SplitSource`` in the reader shape the sample path takes."""

    def __init__(self, source: SplitSource) -> None:
        self.source, self.ann_tsv = source, source.split

    def __len__(self) -> int:
        return len(self.source)

    def read(self, line: int) -> tuple[Image.Image, dict[str, Any]]:
        item = self.source.read(line)
        return item.image, item.annotation


def _source_samples(source: SplitSource, task: str, max_samples: int | None, seed: int,
                    task_fn: Any) -> Iterator[EvalSample]:
    samples = SampleSource(_SplitReader(source), task_fn or default_task_fn(task), source.name, seed=seed,
                           reward_name=TASK_REWARDS[task])
    count = len(samples) if max_samples is None else min(max_samples, len(samples))
    for index in range(count):
        try:
            loaded = samples.load(index)
        except SkipSample as skip:
            samples.skip_stats.record(skip, index)
            continue
        yield EvalSample(index, loaded.image, loaded.task.question, loaded.ground_truth, source.image_name(index),
                         _crowd_regions(loaded.annotation))
    if samples.skip_stats.summary():
        logger.warning("%s: skipped samples by reason: %s", source.split, samples.skip_stats.summary())


def clean_output(text: str) -> str:
    """Cut a decoded answer at the first stop string."""
    for stop in STOP_STRINGS:
        text = text.split(stop, 1)[0]
    return text.strip()


def _matches(scores: np.ndarray, threshold: float, inclusive: bool = True) -> int:
    """Greedy one-to-one matches (largest score first) among ``scores >= threshold`` (rows: preds)."""
    if scores.size == 0:
        return 0
    ok = scores >= threshold if inclusive else scores > threshold
    order = np.argsort(-scores, axis=None)
    used_rows, used_cols, matched = set(), set(), 0
    for flat in order:
        r, c = divmod(int(flat), scores.shape[1])
        if ok[r, c] and r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            matched += 1
    return matched


def detection_counts(groups: list[ParsedGroup], gt: dict[str, Any], task: str) -> tuple[int, int, int]:
    """(true positives, predictions, GT objects) of one sample, matched per phrase."""
    width, height = gt["image_size"]
    answer = gt["answer"]
    preds = predicted_boxes(groups, width, height) if task == "grounding" else predicted_points(groups, width, height)
    tp = n_pred = 0
    n_gt = sum(len(t.get("boxes") or []) for t in answer.values())
    for phrase, pred in preds.items():
        n_pred += len(pred)
        boxes = np.asarray((answer.get(phrase) or {}).get("boxes") or [], dtype=np.float64).reshape(-1, 4)
        if len(pred) == 0 or len(boxes) == 0:
            continue
        if task == "grounding":
            tp += _matches(pairwise_iou(pred, boxes), 0.5)
        else:
            inside = ((pred[:, None, 0] >= boxes[None, :, 0]) & (pred[:, None, 0] <= boxes[None, :, 2])
                      & (pred[:, None, 1] >= boxes[None, :, 1]) & (pred[:, None, 1] <= boxes[None, :, 3]))
            tp += _matches(inside.astype(np.float64), 1.0)
    return tp, n_pred, n_gt


def summarise(records: Sequence[dict[str, Any]], task: str) -> dict[str, Any]:
    """Split-level metrics from per-sample records (``tp``, ``n_pred``, ``n_gt``, ``reward``, ``parsed``)."""
    n = max(len(records), 1)
    tp = sum(r["tp"] for r in records)
    n_pred = sum(r["n_pred"] for r in records)
    n_gt = sum(r["n_gt"] for r in records)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gt if n_gt else 0.0
    f1 = 2 * tp / (n_pred + n_gt) if (n_pred + n_gt) else 0.0
    key = "box" if task == "grounding" else "point"
    suffix = "@0.5" if task == "grounding" else ""
    return {
        "task": task,
        "num_samples": len(records),
        "parse_rate": sum(r["parsed"] for r in records) / n,
        f"mean_{TASK_REWARDS[task]}_reward": sum(r["reward"] for r in records) / n,
        f"{key}_precision{suffix}": precision,
        f"{key}_recall{suffix}": recall,
        f"{key}_f1{suffix}": f1,
        "num_predictions": n_pred,
        "num_gt": n_gt,
    }


def score_sample(prediction: str, gt: dict[str, Any], task: str) -> dict[str, Any]:
    """Per-sample record: reward, detection counts and whether the answer parsed."""
    from verl.configs.reward_func import compute_score

    groups = parse_answer(prediction)
    reward = compute_score([prediction], [gt])[0]
    tp, n_pred, n_gt = detection_counts(groups, gt, task)
    return {"reward": float(reward["overall"]), "parsed": bool(groups), "tp": tp, "n_pred": n_pred, "n_gt": n_gt}


def _batches(samples: Iterator[EvalSample], size: int) -> Iterator[list[EvalSample]]:
    batch: list[EvalSample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def save_visualisation(sample: EvalSample, prediction: str, task: str, path: Path) -> None:
    """Draw ground truth (thin, from the GT dict) and the prediction (thick) on the image as PNG."""
    from PIL import ImageDraw

    canvas = sample.image.convert("RGB").copy()
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    for phrase, targets in sample.ground_truth["answer"].items():
        for box in targets.get("boxes") or []:
            draw.rectangle(box, outline=(0, 255, 0), width=1)
            draw.text((box[0] + 2, box[1] + 1), phrase, fill=(0, 255, 0))
    groups = parse_answer(prediction)
    preds = predicted_boxes(groups, width, height) if task == "grounding" else predicted_points(groups, width, height)
    for phrase, items in preds.items():
        for item in items:
            if task == "grounding":
                draw.rectangle(item.tolist(), outline=(255, 0, 255), width=3)
                draw.text((item[0] + 2, item[3] - 12), phrase, fill=(255, 0, 255))
            else:
                x, y = item.tolist()
                draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=(255, 0, 255), width=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def run_evaluation(
    generator: Any,
    split: str | SplitSource,
    task: str,
    output_dir: str | Path,
    batch_size: int = 8,
    max_samples: int | None = None,
    num_visualisations: int = 8,
    seed: int = 0,
    task_fn: Any = None,
    image_root: str | None = None,
    html_path: str | Path | None = None,
) -> dict[str, Any]:
    """Generate for every sample of ``split`` (a TSV prefix, a COCO JSON with ``image_root``, or a split
    already opened with ``open_split``), score, write ``metrics.json``, ``predictions.jsonl`` (Rex-Omni's shape plus our per-sample
    scores) and ``vis/*.png`` under ``output_dir``, and with ``html_path`` the browsable report;
    returns the metrics. ``task_fn`` asks the questions (default: :func:`default_task_fn`)."""
    from tqdm import tqdm

    from evaluation.html_report import ReportImage, write_report

    output_dir = Path(output_dir)
    source = split if isinstance(split, SplitSource) else open_split(split, image_root)
    split = source.split
    total = len(source) if max_samples is None else min(len(source), max_samples)
    records: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    report: list[ReportImage] = []
    with tqdm(total=total, desc="evaluate", unit="img") as bar:
        for batch in _batches(_source_samples(source, task, max_samples, seed, task_fn), batch_size):
            outputs = generator.generate([s.image for s in batch], [s.question for s in batch])
            for sample, raw in zip(batch, outputs):
                text = clean_output(raw)
                records.append(score_sample(text, sample.ground_truth, task))
                gt = sample.ground_truth
                row = official_record(sample.name, sample.question, text, parse_answer(text), gt["answer"], task,
                                      gt["image_size"], gt["dataset_name"], sample.crowd)
                predictions.append({**row, "index": sample.index, **records[-1]})
                if html_path is not None:
                    report.append(ReportImage.from_record(row, sample.image))
                if sample.index < num_visualisations:
                    save_visualisation(sample, text, task, output_dir / "vis" / f"{sample.index:05d}.png")
            bar.update(len(batch))
    metrics = summarise(records, task)
    metrics.update({f"protocol_{k}": v for k, v in score_records(predictions).items()})
    metrics["split"] = split
    write_text_atomic(output_dir / "predictions.jsonl", "".join(json.dumps(row) + "\n" for row in predictions))
    write_json_atomic(output_dir / "metrics.json", metrics)
    if html_path is not None:
        write_report(html_path, report, title=f"{Path(split).name}: {task}", metrics=metrics)
    logger.info("metrics: %s", json.dumps(metrics))
    return metrics

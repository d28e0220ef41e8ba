"""Evaluate a Rex-Omni checkpoint on a split (TSV or COCO JSON): generate, parse with ``dataset.grammar``, score.

Questions come from the same task function as training (seeded per sample, so every run asks the
same questions). Scores:

* every task: the GRPO reward of each sample (``rewards.score_batch``, which the trainer's
  ``verl/configs/reward_func.py:compute_score`` calls: ``box_iou`` for grounding, ``point_in_box`` for pointing) averaged, and ``parse_rate``, the
  share of answers that parse into at least one phrase group;
* grounding: ``box_f1@0.5``, detection F1 pooled over the split (true positives, predictions and
  GT objects summed over the images), a prediction being a true positive when the protocol's
  matcher (below) pairs it with a GT box of the same phrase at IoU >= 0.5;
* pointing: ``point_f1``, the same with "point inside the GT box" as the match;
* ``protocol_*``: Rex-Omni's own protocol (per-image P/R at IoU 0.5..0.95, F1 of the means, mean
  F1; point in mask and in box), see :mod:`rewards.detection_metrics`. Use these to compare
  with published numbers. Both use that module's matchers; they differ in averaging (pooled
  counts vs means over images) and in that the protocol pools the phrases of an image.

``predictions.jsonl`` is in Rex-Omni's evaluation shape (:mod:`evaluation.official_predictions`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from dataset.annotations import ObjectAnnotation
from dataset.atomic_write import write_json_atomic, write_text_atomic
from dataset.grammar import ParsedGroup, parse_answer, parse_keypoint_answer
from dataset.sample_source import SampleSource
from dataset.skip_stats import SkipSample
from dataset.task_fns.categories import clean_category_name
from dataset.visualize import draw_comparison
from evaluation.official_predictions import official_record, score_records
from evaluation.report_objects import record_objects
from evaluation.sources import SplitSource, open_split
from evaluation.task_predictions import task_record
from rewards import score_batch
from rewards.detection_metrics import match_boxes, match_points, point_in_box
from rewards.predictions import predicted_boxes, predicted_points

logger = logging.getLogger(__name__)

TASK_REWARDS = {"grounding": "box_iou", "pointing": "point_in_box", "referring": "box_iou",
                "hallucination": "hallucination", "visual_prompt": "vp_box_iou", "keypoint": "keypoint_oks",
                "ocr_box": "ocr_box_iou", "ocr_polygon": "polygon_iou", "gui_grounding": "gui_hit",
                "gui_pointing": "gui_hit"}
# Tasks other than grounding/pointing: scored by their reward and their official lines (task_predictions).
OTHER_TASKS = tuple(t for t in TASK_REWARDS if t not in ("grounding", "pointing"))
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


def task_fn_class(task: str) -> Any:
    """The task function class that asks ``task``'s questions."""
    from dataset import task_fns

    classes = {"grounding": task_fns.GroundingTaskFn, "pointing": task_fns.PointingTaskFn,
               "referring": task_fns.ReferringTaskFn, "hallucination": task_fns.ReferringTaskFn,
               "visual_prompt": task_fns.VisualPromptTaskFn, "keypoint": task_fns.KeypointTaskFn,
               "ocr_box": task_fns.OcrBoxTaskFn, "ocr_polygon": task_fns.OcrPolygonTaskFn,
               "gui_grounding": task_fns.GuiGroundingTaskFn, "gui_pointing": task_fns.GuiPointingTaskFn}
    if task not in classes:
        raise ValueError(f"task must be one of {sorted(TASK_REWARDS)}, got {task!r}")
    return classes[task]


def default_task_fn(task: str) -> Any:
    """The training task function of ``task`` with its prompt list (the other tasks: the wrapper's prompt)."""
    from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY, POINTING_TASK_PROMPTS

    if task == "grounding":
        return task_fn_class(task)(task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY)
    if task == "pointing":
        return task_fn_class(task)(task_prompts=POINTING_TASK_PROMPTS)
    return task_fn_class(task)()


def config_task(config_path: str, task: str, with_split: bool = True) -> tuple[Any, str | None]:
    """``(task function, split)`` for ``--task`` from a config, which is loaded and built once.

    The task function is that of the config's first validation dataset that asks ``task`` (else of its
    first such training dataset): a mixed-task config (configs/sft_tasks.py) has one per task. It asks
    with the prompts, negatives and vocabulary the model was trained with. The split (``with_split``;
    else ``None``) is the TSV prefix of the first ``val_dataset`` whose task function asks ``task``.

    Raises ``ValueError`` naming the config when it has no task function, none of the task (naming every
    task function it has), or no such ``val_dataset`` with an ``ann_tsv_file``.
    """
    from dataset.config_checks import load_data_config

    cfg = load_data_config(config_path)
    expected = task_fn_class(task)
    val_leaves = _leaf_task_fns(cfg.get("val_dataset"))
    leaves = {"val_dataset": val_leaves, "train_dataset": _leaf_task_fns(cfg.get("train_dataset"))}
    task_fn = next((fn for key in leaves for _, fn in leaves[key] if isinstance(fn, expected)), None)
    if task_fn is None:
        found = {key: list(dict.fromkeys(type(fn).__name__ for _, fn in leaves[key] if fn is not None))
                 for key in leaves}
        if not any(found.values()):
            raise ValueError(f"{config_path}: neither val_dataset nor train_dataset has a task_fn")
        key = "val_dataset" if found["val_dataset"] else "train_dataset"
        names = found[key]
        has = f"the task_fn of {key} is {names[0]}" if len(names) == 1 else \
            f"the task_fns of {key} are {', '.join(names)}"
        raise ValueError(f"{config_path}: {has}; --task {task} needs a {expected.__name__}")
    return task_fn, _val_split(config_path, val_leaves, expected, task) if with_split else None


def task_fn_from_config(config_path: str, task: str) -> Any:
    """The task function :func:`config_task` gives."""
    return config_task(config_path, task, with_split=False)[0]


def val_split_from_config(config_path: str, task: str | None = None) -> str:
    """The split to evaluate on that the config names: the TSV prefix of its first ``val_dataset``, or with
    ``task``, of its first ``val_dataset`` whose task function asks ``task`` (when any has a task function).

    Raises ``ValueError`` naming the config when it has no such ``val_dataset`` with an ``ann_tsv_file``."""
    from dataset.config_checks import load_data_config

    leaves = _leaf_task_fns(load_data_config(config_path).get("val_dataset"))
    return _val_split(config_path, leaves, task_fn_class(task) if task is not None else None, task)


def _val_split(config_path: str, leaves: list[tuple[Any, Any]], expected: Any, task: str | None) -> str:
    suffix = ".annotations.tsv"
    if expected is not None and any(task_fn is not None for _, task_fn in leaves):
        leaves = [(leaf, task_fn) for leaf, task_fn in leaves if isinstance(task_fn, expected)]
    for dataset, _ in leaves:
        ann_file = str(dataset.get("ann_tsv_file") or "")
        if ann_file.endswith(suffix):
            return ann_file[: -len(suffix)]
    of_task = f" of --task {task}" if task is not None else ""
    raise ValueError(f"{config_path}: no val_dataset{of_task} with an ann_tsv_file to evaluate on: give --split "
                     "(a TSV prefix, or a COCO JSON with --image_root)")


def _leaf_task_fns(spec: Any) -> list[tuple[Any, Any]]:
    """``(dataset dict, its built task function or None)`` for each leaf dataset of ``spec`` (a dataset
    dict, a ``ConcatDataset`` dict, or a list of them as GRPO configs have)."""
    from dataset.registry import build

    leaves = [leaf for item in (spec if isinstance(spec, (list, tuple)) else [spec]) for leaf in leaf_datasets(item)]
    return [(leaf, build(leaf["task_fn"]) if leaf.get("task_fn") is not None else None) for leaf in leaves]


def leaf_datasets(spec: Any) -> list[Any]:
    """Dataset dicts under ``spec``, looking inside ``ConcatDataset``-style ``datasets`` lists."""
    if not isinstance(spec, dict):
        return []
    if "datasets" in spec:
        return [leaf for child in spec["datasets"] for leaf in leaf_datasets(child)]
    return [spec]


def iter_samples(split: str, task: str, max_samples: int | None = None, seed: int = 0,
                 task_fn: Any = None, image_root: str | None = None) -> Iterator[EvalSample]:
    """Questions and ground truths for the first ``max_samples`` images of the split (a TSV prefix,
    or a COCO JSON with ``image_root``), asked by ``task_fn`` (default: :func:`default_task_fn`)
    through the same sample path as training (``dataset.sample_source``, epoch 0). Unusable samples
    are skipped, counted and logged."""
    yield from source_samples(open_split(split, image_root), task, max_samples, seed, task_fn)


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


def source_samples(source: SplitSource, task: str, max_samples: int | None, seed: int,
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


def detection_counts(groups: list[ParsedGroup], gt: dict[str, Any], task: str) -> tuple[int, int, int]:
    """(true positives, predictions, GT objects) of one sample.

    Each phrase is matched on its own by the protocol's matchers (``rewards.detection_metrics``):
    ``match_boxes`` at IoU 0.5 for grounding, ``match_points`` with ``point_in_box`` for pointing, so
    a prediction counts only against GT objects of its own phrase.
    """
    width, height = gt["image_size"]
    answer = gt["answer"]
    preds = predicted_boxes(groups, width, height) if task == "grounding" else predicted_points(groups, width, height)
    n_pred = sum(len(pred) for pred in preds.values())
    n_gt = sum(len(t.get("boxes") or []) for t in answer.values())
    tp = 0
    for phrase, pred in preds.items():
        boxes = (answer.get(phrase) or {}).get("boxes") or []
        if len(pred) == 0 or len(boxes) == 0:
            continue
        if task == "grounding":
            tp += match_boxes({phrase: boxes}, {phrase: pred.tolist()}, 0.5).n_matched
        else:
            tp += match_points({phrase: boxes}, {phrase: pred.tolist()}, point_in_box).n_matched
    return tp, n_pred, n_gt


def summarise(records: Sequence[dict[str, Any]], task: str) -> dict[str, Any]:
    """Split-level metrics from per-sample records (``tp``, ``n_pred``, ``n_gt``, ``reward``, ``parsed``);
    the other tasks: parse rate and mean reward (their official numbers come as ``protocol_*``)."""
    n = max(len(records), 1)
    if task in OTHER_TASKS:
        return {"task": task, "num_samples": len(records), "parse_rate": sum(r["parsed"] for r in records) / n,
                f"mean_{TASK_REWARDS[task]}_reward": sum(r["reward"] for r in records) / n}
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
    groups = parse_answer(prediction)
    reward = score_batch([prediction], [gt])[0]
    if task in OTHER_TASKS:
        parsed = bool(parse_keypoint_answer(prediction)) if task == "keypoint" else bool(groups)
        return {"reward": float(reward["overall"]), "parsed": parsed, "tp": 0, "n_pred": 0, "n_gt": 0}
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


def scored_row(sample: EvalSample, text: str, task: str) -> dict[str, Any]:
    """One ``predictions.jsonl`` line: the official record of the cleaned answer ``text`` plus the
    sample's index and its per-sample scores (:func:`score_sample`)."""
    gt = sample.ground_truth
    row = task_record(task, sample.name, sample.question, text, gt) if task in OTHER_TASKS else \
        official_record(sample.name, sample.question, text, parse_answer(text), gt["answer"], task,
                        gt["image_size"], gt["dataset_name"], sample.crowd)
    return {**row, "index": sample.index, **score_sample(text, gt, task)}


def answer_and_score(generator: Any, samples: Iterable[EvalSample], task: str,
                     batch_size: int) -> Iterator[tuple[EvalSample, str, dict[str, Any]]]:
    """Generate in batches of ``batch_size`` and yield (sample, cleaned answer, :func:`scored_row`)."""
    for batch in _batches(iter(samples), batch_size):
        outputs = generator.generate([s.image for s in batch], [s.question for s in batch])
        for sample, raw in zip(batch, outputs):
            text = clean_output(raw)
            yield sample, text, scored_row(sample, text, task)


def split_metrics(rows: Sequence[dict[str, Any]], task: str) -> dict[str, Any]:
    """The metrics ``tools/evaluate.py`` reports for scored rows: :func:`summarise` plus Rex-Omni's
    protocol as ``protocol_*``."""
    metrics = summarise(rows, task)
    metrics.update({f"protocol_{k}": v for k, v in score_records(rows).items()})
    return metrics


GEOMETRY_KINDS = ("boxes", "points", "masks", "polygons", "keypoints")  # a phrase with none of them is a negative


def save_visualisation(sample: EvalSample, row: dict[str, Any], task: str, path: Path) -> None:
    """Ground truth (left) and the prediction (right) of one predictions line ``row`` drawn side by side
    on the image, as PNG: the objects the HTML report draws (``evaluation.report_objects``: boxes,
    points, masks, polygons with their text, keypoint skeletons) by the one drawer, plus the phrases
    asked but absent (negatives) in the ground truth's legend."""
    truth, predicted = record_objects(row)
    truth += [ObjectAnnotation(phrase) for phrase, targets in sample.ground_truth["answer"].items()
              if not any(targets.get(kind) for kind in GEOMETRY_KINDS)]
    width, height = (int(v) for v in row["image_size"])
    image = sample.image.convert("RGB")
    if image.size != (width, height):
        image = image.resize((width, height))
    drawn = draw_comparison(image, truth, predicted,
                            titles=(f"GT | {row.get('dataset_name', '')}", f"Prediction | {TASK_REWARDS[task]}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    drawn.save(path)


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
    predictions: list[dict[str, Any]] = []
    report: list[ReportImage] = []
    with tqdm(total=total, desc="evaluate", unit="img") as bar:
        for sample, _, row in answer_and_score(generator, source_samples(source, task, max_samples, seed, task_fn),
                                                  task, batch_size):
            predictions.append(row)
            if html_path is not None:
                report.append(ReportImage.from_record(row, sample.image))
            if sample.index < num_visualisations:
                save_visualisation(sample, row, task, output_dir / "vis" / f"{sample.index:05d}.png")
            bar.update(1)
    metrics = split_metrics(predictions, task)
    metrics["split"] = split
    write_text_atomic(output_dir / "predictions.jsonl", "".join(json.dumps(row) + "\n" for row in predictions))
    write_json_atomic(output_dir / "metrics.json", metrics)
    if html_path is not None:
        write_report(html_path, report, title=f"{Path(split).name}: {task}", metrics=metrics)
    logger.info("metrics: %s", json.dumps(metrics))
    return metrics

"""Validation scores and pictures while a model trains, with the same code as ``tools/evaluate.py``.

Both stages use this module: SFT generates on its config's ``val_dataset`` (:func:`val_splits`,
:func:`answer_split`), GRPO scores the answers of its own validation rollout (:func:`answer_rows`).
Either way a row is :func:`evaluation.evaluate.scored_row` and the numbers are
:func:`evaluation.evaluate.split_metrics`: the official protocol (``protocol_*``), the parse rate,
the mean reward and the pooled F1, exactly as ``tools/evaluate.py`` writes them to ``metrics.json``.

Nothing here imports a trainer; the callers own the process group and the loggers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from dataset.tsv import TsvReader
from dataset.visualize import draw_objects
from evaluation.evaluate import (
    OTHER_TASKS,
    EvalSample,
    answer_and_score,
    leaf_datasets,
    scored_row,
    source_samples,
    split_metrics,
    task_fn_class,
)
from evaluation.report_objects import record_objects
from evaluation.sources import SplitSource

__all__ = ["REWARD_TASKS", "ValSplit", "answer_metrics", "answer_rows", "answer_split",
           "load_samples", "metrics_by_split", "prediction_picture", "rank_batches", "val_splits"]

# The reward a split is scored with -> the evaluation task whose protocol applies (gui_hit: GUI grounding and
# pointing have the same official line and metric).
REWARD_TASKS = {"box_iou": "grounding", "point_in_box": "pointing", "point_in_mask": "pointing",
                "hallucination": "hallucination", "vp_box_iou": "visual_prompt", "keypoint_oks": "keypoint",
                "ocr_box_iou": "ocr_box", "polygon_iou": "ocr_polygon", "gui_hit": "gui_grounding"}
ANNOTATIONS_SUFFIX = ".annotations.tsv"


@dataclass
class ValSplit:
    """One validation dataset of a config: its name (``dataset_name``), TSV source, task and task function."""

    name: str
    source: SplitSource
    task: str
    task_fn: Any


def _task_of(task_fn: Any, where: str) -> str:
    """The ``tools/evaluate.py --task`` whose task function ``task_fn`` is (a ``GroundingTaskFn``, referring's
    included, scores as grounding, as before the other tasks existed)."""
    from dataset.task_fns import GroundingTaskFn, PointingTaskFn

    if isinstance(task_fn, GroundingTaskFn):
        return "grounding"
    if isinstance(task_fn, PointingTaskFn):
        return "pointing"
    for task in OTHER_TASKS:
        if isinstance(task_fn, task_fn_class(task)):
            return task
    raise ValueError(f"{where}: in-training evaluation scores the tasks of tools/evaluate.py --task, not "
                     f"{type(task_fn).__name__}")


def val_splits(spec: Any, where: str = "val_dataset") -> list[ValSplit]:
    """The leaf datasets of a config's ``val_dataset`` (a dataset dict, a ``ConcatDataset`` dict or a
    list of them) as :class:`ValSplit`; the task function is built from the config like training's.

    Raises ``ValueError`` naming the dataset when it has no TSV files or no task_fn of a tools/evaluate.py --task.
    """
    from dataset.registry import build

    leaves = [leaf for item in (spec if isinstance(spec, (list, tuple)) else [spec]) for leaf in leaf_datasets(item)]
    splits = []
    for number, leaf in enumerate(leaves):
        name = str(leaf.get("dataset_name") or f"val{number}")
        paths = [leaf.get(k) for k in ("img_tsv_file", "ann_tsv_file", "ann_lineidx_file")]
        if not all(paths) or leaf.get("task_fn") is None:
            raise ValueError(f"{where} {name}: needs img_tsv_file, ann_tsv_file, ann_lineidx_file and task_fn")
        task_fn = build(leaf["task_fn"])
        ann = str(paths[1])
        prefix = ann[: -len(ANNOTATIONS_SUFFIX)] if ann.endswith(ANNOTATIONS_SUFFIX) else ann
        missing = [p for p in paths if not os.path.isfile(str(p))]
        if missing:
            raise ValueError(f"{where} {name}: file not found: {missing[0]}")
        source = SplitSource(prefix, reader=TsvReader(*(str(p) for p in paths)))
        splits.append(ValSplit(name, source, _task_of(task_fn, f"{where} {name}"), task_fn))
    return splits


def load_samples(split: ValSplit, max_samples: int | None, seed: int = 0) -> list[EvalSample]:
    """The questions ``tools/evaluate.py --config ... --max_samples N --seed S`` asks on this split."""
    return list(source_samples(split.source, split.task, max_samples, seed, split.task_fn))


def rank_batches(count: int, rank: int, world: int, batch_size: int) -> list[list[int]]:
    """Positions (of ``count`` samples) that ``rank`` of ``world`` answers, in batches of ``batch_size``:
    every ``world``-th sample from ``rank``. Every rank gets the same number of batches (a rank short
    of samples gets empty ones) so that collective generation (ZeRO-3) calls ``generate`` equally often."""
    mine = list(range(rank, count, world))
    per_rank = math.ceil(count / world) if count else 0
    return [mine[i * batch_size:(i + 1) * batch_size] for i in range(math.ceil(per_rank / batch_size))]


def answer_split(generator: Any, samples: Sequence[EvalSample], task: str, batch_size: int, rank: int = 0,
                 world: int = 1, pad_batches: bool = False, progress: Any = None) -> list[dict[str, Any]]:
    """This rank's scored rows (``predictions.jsonl`` lines, with ``index``) of its share of ``samples``.

    ``pad_batches``: answer an empty batch with a throw-away copy of sample 0, so that every rank calls
    ``generate`` the same number of times. ``progress`` (a tqdm bar or ``None``) advances per sample.
    """
    rows: list[dict[str, Any]] = []
    for positions in rank_batches(len(samples), rank, world, batch_size):
        if not positions:
            if pad_batches and samples:
                generator.generate([samples[0].image], [samples[0].question])
            continue
        batch = [samples[p] for p in positions]
        rows.extend(row for _, _, row in answer_and_score(generator, batch, task, batch_size))
        if progress is not None:
            progress.update(len(batch) * world)
    return rows


def metrics_by_split(rows_by_split: Mapping[str, Sequence[dict[str, Any]]],
                     tasks: Mapping[str, str]) -> dict[str, float]:
    """Numeric :func:`evaluation.evaluate.split_metrics` of each split. One split: its keys as they are
    (``protocol_box_mean_f1``, ``parse_rate``, ...). Several: ``<name>/<key>`` per split, and the plain
    key holds the mean over the splits that report it."""
    per_split = {}
    for name, rows in rows_by_split.items():
        ordered = sorted(rows, key=lambda r: r["index"])
        metrics = split_metrics(ordered, tasks[name])
        per_split[name] = {k: float(v) for k, v in metrics.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if len(per_split) == 1:
        return next(iter(per_split.values()))
    out: dict[str, float] = {}
    keys: dict[str, list[float]] = {}
    for name, metrics in per_split.items():
        for key, value in metrics.items():
            out[f"{name}/{key}"] = value
            keys.setdefault(key, []).append(value)
    out.update({key: sum(values) / len(values) for key, values in keys.items()})
    return out


def answer_rows(texts: Sequence[str], ground_truths: Sequence[Mapping[str, Any]],
                questions: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Scored rows of answers already generated (GRPO's validation rollout), grouped by ``dataset_name``.

    ``ground_truths`` are the reward schema's dicts; a sample whose ``reward_name`` has no protocol
    (not in :data:`REWARD_TASKS`) is left out. Returns dataset name -> rows (``index`` = position).
    """
    from evaluation.evaluate import clean_output

    grouped: dict[str, list[dict[str, Any]]] = {}
    for index, (text, gt, question) in enumerate(zip(texts, ground_truths, questions)):
        task = REWARD_TASKS.get(str(gt.get("reward_name")))
        if task is None:
            continue
        sample = EvalSample(index, None, question, dict(gt), name=f"{gt.get('dataset_name')}/{index:06d}")  # type: ignore[arg-type]
        row = scored_row(sample, clean_output(text), task)
        grouped.setdefault(str(gt.get("dataset_name")), []).append({**row, "task": task})
    return grouped


def answer_metrics(texts: Sequence[str], ground_truths: Sequence[Mapping[str, Any]],
                   questions: Sequence[str]) -> tuple[dict[str, float], dict[str, list[dict[str, Any]]]]:
    """:func:`metrics_by_split` of answers already generated, grouped by dataset (:func:`answer_rows`);
    returns the metrics (empty when no sample has a protocol) and the rows by dataset."""
    grouped = answer_rows(texts, ground_truths, questions)
    if not grouped:
        return {}, grouped
    return metrics_by_split(grouped, {name: rows[0]["task"] for name, rows in grouped.items()}), grouped


def prediction_picture(image: Image.Image, row: Mapping[str, Any]) -> Image.Image:
    """Ground truth (left) and prediction (right) of one scored row (any task: the objects of
    :func:`evaluation.report_objects.record_objects`), each drawn by :func:`dataset.visualize.draw_objects`,
    side by side on one RGB image (pixels of ``image``)."""
    truth, predicted = record_objects(row)
    size = tuple(int(v) for v in row.get("image_size") or image.size)
    image = image if image.size == size else image.resize(size)  # a rollout's image may be resized
    left = draw_objects(image, truth)
    right = draw_objects(image, predicted)
    gap = 4
    out = Image.new("RGB", (left.width + gap + right.width, max(left.height, right.height)), (255, 255, 255))
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    return out


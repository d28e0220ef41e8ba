"""SFT data pipeline throughput: samples/s of ``GroundingTSVDataset`` (decode + task fn + image
processor + tokenise + M-RoPE) with 0, 1 and 2 DataLoader workers, and a per-stage breakdown.

Input: toy grounding scenes (``demo.toy_data``) at 448x336 px in a temporary folder, the tiny
test model's processor (``work_dirs/models/rex-omni-test``, built if missing), default pixel limits
(16..256 * 28^2, so 192 image tokens per sample). The breakdown times each dataset stage in the
main process; the DataLoader figures are full passes (worker start-up included) with batch size 4
and the padded collator. Medians of repeats, with min and max.

Run ``python -m bench.bench_sft_data [--quick]``; :func:`main` returns the numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from typing import Any

from bench.common import measure, stats_of

logger = logging.getLogger(__name__)

IMAGE_SIZE = (448, 336)
FULL_SAMPLES, QUICK_SAMPLES = 64, 16
WORKER_COUNTS = (0, 1, 2)
BATCH_SIZE = 4
MODEL_DIR = "work_dirs/models/rex-omni-test"
STAGES = ("read", "task_fn", "tokenize", "image_processor", "position_ids")


def build_dataset(data_dir: str, num_samples: int) -> Any:
    """The benchmark dataset: toy grounding data and the tiny model's processor."""
    from transformers import AutoProcessor

    from dataset.sft_dataset import GroundingTSVDataset
    from dataset.task_fns import GroundingTaskFn
    from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY
    from demo.tiny_model import build_tiny_rex_omni
    from demo.toy_data import make_toy_datasets

    paths = make_toy_datasets(data_dir, num_train=num_samples, num_val=1, image_size=IMAGE_SIZE, seed=0)
    processor = AutoProcessor.from_pretrained(build_tiny_rex_omni(MODEL_DIR, size="test", seed=0))
    train = paths["toy_grounding_train"]
    return GroundingTSVDataset(
        train.image_tsv,
        train.ann_tsv,
        train.lineidx,
        image_min_pixels=16 * 28 * 28,
        image_max_pixels=256 * 28 * 28,
        task_fn=GroundingTaskFn(GROUNDING_SINGLE_REGION_STAGE_XYXY),
        processor=processor,
    )


def stage_seconds(ds: Any) -> dict[str, float]:
    """Seconds spent in each stage over one pass of ``ds`` (main process, no DataLoader)."""
    totals = dict.fromkeys(STAGES, 0.0)
    for index in range(len(ds)):
        t0 = time.perf_counter()
        image, annotation = ds.read(index)
        t1 = time.perf_counter()
        task = ds.make_task(annotation, image.size, ds.sample_rng(index))
        t2 = time.perf_counter()
        text = ds.encode_text(task, image.size)
        t3 = time.perf_counter()
        pixel_values, grid = ds.process_image(image, text.num_image_tokens)
        t4 = time.perf_counter()
        ds.assemble(text, pixel_values, grid)
        t5 = time.perf_counter()
        for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            totals[stage] += seconds
    return totals


def loader_pass(ds: Any, num_workers: int) -> None:
    """One full DataLoader pass with the padded collator."""
    from torch.utils.data import DataLoader

    from dataset.collator import DataCollatorForSupervisedDataset

    collate = DataCollatorForSupervisedDataset(pad_token_id=ds.chat.tokenizer.pad_token_id)
    loader = DataLoader(ds, batch_size=BATCH_SIZE, shuffle=False, num_workers=num_workers, collate_fn=collate)
    for _ in loader:
        pass


def main(quick: bool = False) -> dict[str, Any]:
    """Samples/s per worker count and per-stage ms/sample (median, min, max over repeats)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never download
    import torch

    num_samples = QUICK_SAMPLES if quick else FULL_SAMPLES
    repeats = 1 if quick else 3
    result: dict[str, Any] = {
        "num_samples": num_samples,
        "image_size": list(IMAGE_SIZE),
        "batch_size": BATCH_SIZE,
        "repeats": repeats,
        "torch_threads_main": torch.get_num_threads(),
    }
    with tempfile.TemporaryDirectory(prefix="bench_sft_data_") as tmp:
        ds = build_dataset(tmp, num_samples)
        sample = ds[0]
        result["tokens_per_sample"] = int(sample["input_ids"].numel())
        result["image_tokens_per_sample"] = int(sample["image_grid_thw"].prod()) // ds.merge_size**2
        ds[1]  # warm-up (lazy imports, file handles)
        passes = [stage_seconds(ds) for _ in range(repeats)]
        result["stage_ms_per_sample"] = {
            stage: stats_of(1000 * p[stage] / num_samples for p in passes) for stage in STAGES
        }
        totals = [sum(p.values()) for p in passes]
        result["stage_share"] = {stage: sum(p[stage] for p in passes) / sum(totals) for stage in STAGES}
        result["samples_per_s"] = {}
        for workers in WORKER_COUNTS:
            seconds = measure(lambda w=workers: loader_pass(ds, w), repeats=repeats)
            rates = [num_samples / s for s in seconds["runs"]]
            result["samples_per_s"][f"workers={workers}"] = stats_of(rates)
            logger.info(
                "%d worker(s): %.1f samples/s",
                workers,
                result["samples_per_s"][f"workers={workers}"]["median"],
            )
        result["skips"] = ds.skip_summary()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES} samples, one run each")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(main(quick=parser.parse_args().quick), indent=2))

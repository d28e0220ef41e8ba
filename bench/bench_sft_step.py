"""SFT training step throughput on the CPU: real tokens/s of forward + backward + AdamW step of the
tiny test and demo Rex-Omni models, padded vs packed batches; plus the data-pipeline speed-up.

Input: toy grounding samples at two image sizes (224x168 and 448x336 px, so 48 or 192 image tokens),
interleaved so every batch of 4 mixes both: a realistic amount of padding. The same batches are
collated with ``DataCollatorForSupervisedDataset`` (right padding, ``(B, Lmax)``) and
``FlattenedDataCollatorForSupervisedDataset`` (one packed row) and the two layouts are timed
alternately (so machine load hits both alike), and the padded ones once more with 1 torch thread
(``padded_1_thread``). tokens/s counts real (non-pad) tokens only.

``data_pipeline`` times ``dataset[i]`` in the main process before and after the image-processor
change in ``dataset/sft_dataset.py`` (``IMAGE_PROCESSOR_THREADS``): "before" is the original call
(torch's default intra-op threads), "after" is the dataset as it is; both in the same run,
alternating, and their ``pixel_values`` are checked equal.

Run ``python -m bench.bench_sft_step [--quick]``; :func:`main` returns the numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import stats_of

logger = logging.getLogger(__name__)

IMAGE_SIZES = ((224, 168), (448, 336))  # width, height
MODEL_DIRS = {"test": "work_dirs/models/rex-omni-test", "demo": "work_dirs/models/rex-omni-demo"}
BATCH_SIZE = 4
MIN_PIXELS, MAX_PIXELS = 16 * 28 * 28, 256 * 28 * 28
FULL = dict(models=("test", "demo"), batches=4, steps=5, data_samples=32, data_repeats=5)
QUICK = dict(models=("test",), batches=1, steps=1, data_samples=4, data_repeats=1)


def build_datasets(data_dir: str, processor: Any, num_samples: int) -> list[Any]:
    """One ``GroundingTSVDataset`` of ``num_samples`` toy scenes per size in ``IMAGE_SIZES``."""
    from dataset.sft_dataset import GroundingTSVDataset
    from dataset.task_fns import GroundingTaskFn
    from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY
    from demo.toy_data import make_toy_datasets

    datasets = []
    for width, height in IMAGE_SIZES:
        paths = make_toy_datasets(os.path.join(data_dir, f"{width}x{height}"), num_train=num_samples, num_val=1,
                                  image_size=(width, height), seed=width)
        train = paths["toy_grounding_train"]
        datasets.append(GroundingTSVDataset(
            train.image_tsv, train.ann_tsv, train.lineidx, image_min_pixels=MIN_PIXELS, image_max_pixels=MAX_PIXELS,
            task_fn=GroundingTaskFn(GROUNDING_SINGLE_REGION_STAGE_XYXY), processor=processor,
        ))
    return datasets


def mixed_samples(datasets: list[Any], count: int) -> list[dict[str, Any]]:
    """``count`` samples taken alternately from ``datasets`` (so each batch mixes image sizes)."""
    return [datasets[i % len(datasets)][i // len(datasets)] for i in range(count)]


def collate_both(samples: list[dict[str, Any]], pad_token_id: int) -> dict[str, list[dict[str, Any]]]:
    """The samples in batches of ``BATCH_SIZE``, each collated padded and packed."""
    from dataset.collator import DataCollatorForSupervisedDataset, FlattenedDataCollatorForSupervisedDataset

    padded = DataCollatorForSupervisedDataset(pad_token_id=pad_token_id)
    packed = FlattenedDataCollatorForSupervisedDataset()
    chunks = [samples[i:i + BATCH_SIZE] for i in range(0, len(samples), BATCH_SIZE)]
    return {"padded": [padded(c) for c in chunks], "packed": [packed(c) for c in chunks]}


def real_tokens(batch: dict[str, Any]) -> int:
    """Non-pad tokens of a padded or packed batch."""
    mask = batch.get("attention_mask")
    return int(mask.sum()) if mask is not None else int(batch["input_ids"].numel())


def train_step(model: Any, optimizer: Any, batch: dict[str, Any]) -> float:
    """Forward (the model's own LM loss) + backward + optimizer step; returns the loss."""
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def time_layouts(model_dir: str, batches: dict[str, list[dict[str, Any]]], steps: int) -> dict[str, Any]:
    """Tokens/s of each layout: one untimed warm-up step, then ``steps`` rounds, layouts alternating."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from dataset.sft_dataset import torch_threads

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32,
                                                               attn_implementation="sdpa")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    # (name, layout, torch threads): "padded_1_thread" shows what torch's intra-op threads cost here.
    variants = [(layout, layout, None) for layout in batches] + [("padded_1_thread", "padded", 1)]
    for _, layout, _ in variants[:-1]:
        train_step(model, optimizer, batches[layout][0])
    rates: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for step in range(steps):
        for name, layout, threads in variants:
            batch = batches[layout][step % len(batches[layout])]
            with torch_threads(threads or torch.get_num_threads()):
                start = time.perf_counter()
                train_step(model, optimizer, batch)
                rates[name].append(real_tokens(batch) / (time.perf_counter() - start))
    tokens_per_s = {name: stats_of(rates[name]) for name in rates}
    return {
        "parameters_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "torch_threads": torch.get_num_threads(),
        "tokens_per_s": tokens_per_s,
        "packed_over_padded": tokens_per_s["packed"]["median"] / tokens_per_s["padded"]["median"],
        "one_thread_over_default": tokens_per_s["padded_1_thread"]["median"] / tokens_per_s["padded"]["median"],
    }


def legacy_process_image(ds: Any) -> Callable[[Any, int], tuple[Any, Any]]:
    """``ds.process_image`` as it was before the speed-up: the processor under torch's own thread count."""

    def process_image(image: Any, num_image_tokens: int) -> tuple[Any, Any]:
        out = ds.image_processor(images=image, size=ds.image_size, return_tensors="pt")
        return out["pixel_values"], out["image_grid_thw"]

    return process_image


def time_data_pipeline(ds: Any, repeats: int) -> dict[str, Any]:
    """Samples/s of ``ds[i]`` (main process) and ms/sample of the image stage, before and after."""
    import torch

    image, _ = ds.read(0)
    tokens = ds.num_image_tokens(image.size)
    before_pv, _ = legacy_process_image(ds)(image, tokens)
    after_pv, _ = ds.process_image(image, tokens)
    rates: dict[str, list[float]] = {"before": [], "after": []}
    image_ms: dict[str, list[float]] = {"before": [], "after": []}
    fast = ds.process_image
    for _ in range(repeats):
        for variant in ("before", "after"):
            ds.process_image = legacy_process_image(ds) if variant == "before" else fast
            start = time.perf_counter()
            for index in range(len(ds)):
                ds[index]
            rates[variant].append(len(ds) / (time.perf_counter() - start))
            start = time.perf_counter()
            for _ in range(8):
                ds.process_image(image, tokens)
            image_ms[variant].append(1000 * (time.perf_counter() - start) / 8)
    ds.process_image = fast
    out: dict[str, Any] = {
        "num_samples": len(ds),
        "torch_threads_main": torch.get_num_threads(),
        "pixel_values_equal": bool(torch.equal(before_pv, after_pv)),
        "samples_per_s": {v: stats_of(r) for v, r in rates.items()},
        "image_processor_ms": {v: stats_of(r) for v, r in image_ms.items()},
    }
    out["speedup_samples_per_s"] = out["samples_per_s"]["after"]["median"] / out["samples_per_s"]["before"]["median"]
    out["speedup_image_processor"] = (out["image_processor_ms"]["before"]["median"]
                                      / out["image_processor_ms"]["after"]["median"])
    return out


def main(quick: bool = False) -> dict[str, Any]:
    """tokens/s per model and layout, and the data-pipeline before/after (medians, min, max)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never download
    from transformers import AutoProcessor

    from demo.tiny_model import build_tiny_rex_omni

    sizes = QUICK if quick else FULL
    result: dict[str, Any] = {"batch_size": BATCH_SIZE, "image_sizes": [list(s) for s in IMAGE_SIZES],
                              "batches": sizes["batches"], "timed_steps_per_layout": sizes["steps"], "models": {}}
    with tempfile.TemporaryDirectory(prefix="bench_sft_step_") as tmp:
        for size in sizes["models"]:
            model_dir = str(build_tiny_rex_omni(MODEL_DIRS[size], size=size, seed=0))
            processor = AutoProcessor.from_pretrained(model_dir)
            datasets = build_datasets(str(Path(tmp) / size), processor, sizes["data_samples"])
            samples = mixed_samples(datasets, sizes["batches"] * BATCH_SIZE)
            batches = collate_both(samples, processor.tokenizer.pad_token_id)
            padded_slots = sum(int(b["input_ids"].numel()) for b in batches["padded"])
            stats = time_layouts(model_dir, batches, sizes["steps"])
            stats["real_tokens_per_batch"] = sum(real_tokens(b) for b in batches["packed"]) / len(batches["packed"])
            stats["pad_fraction_padded"] = 1 - sum(real_tokens(b) for b in batches["padded"]) / padded_slots
            result["models"][size] = stats
            logger.info("%s: padded %.0f, packed %.0f tokens/s", size, stats["tokens_per_s"]["padded"]["median"],
                        stats["tokens_per_s"]["packed"]["median"])
            if size == sizes["models"][0]:
                result["data_pipeline"] = time_data_pipeline(datasets[1], sizes["data_repeats"])
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="test model only, one batch, one timed step")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(main(quick=parser.parse_args().quick), indent=2))

"""JSONL -> TSV converter throughput (images/s) with 1 and 2 worker processes.

Input: a temporary JSONL of toy scenes (``demo.toy_data.make_scene``) at 640x480, saved as JPEG
(3 of 4) and PNG (1 of 4) like the toy converter demo; a small pool of distinct scenes is reused
so that building the input stays cheap. Each run decodes every image and re-encodes it as JPEG q95.
The outputs of the 1- and 2-worker runs are checked to be byte-identical.

Run ``python -m bench.bench_converter [--quick]``; :func:`main` returns the numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from typing import Any

import numpy as np

from bench.common import measure
from dataset.tsv import TsvPaths

logger = logging.getLogger(__name__)

IMAGE_SIZE = (640, 480)
FULL_IMAGES, QUICK_IMAGES = 300, 40
DISTINCT_SCENES = 24
WORKER_COUNTS = (1, 2)


def build_jsonl(directory: str, num_images: int, size: tuple[int, int] = IMAGE_SIZE) -> tuple[str, str]:
    """Write ``num_images`` toy images and their JSONL into ``directory``; returns ``(jsonl, image_root)``."""
    from demo.toy_data import make_scene, scene_annotations

    rng = np.random.default_rng(0)
    root = os.path.join(directory, "images")
    os.makedirs(root, exist_ok=True)
    scenes = [make_scene(rng, *size) for _ in range(min(DISTINCT_SCENES, num_images))]
    lines = []
    for i in range(num_images):
        image, objects, negatives = scenes[i % len(scenes)]
        name = f"img_{i:05d}." + ("png" if i % 4 == 3 else "jpg")
        image.save(os.path.join(root, name), **({"quality": 90} if name.endswith("jpg") else {}))
        grounding, _ = scene_annotations(objects, negatives, rng)
        lines.append(json.dumps({"image_name": name, "annotation": grounding}))
    jsonl = os.path.join(directory, "bench.jsonl")
    with open(jsonl, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return jsonl, root


def _convert(jsonl: str, root: str, out: str, num_workers: int) -> None:
    from dataset.convert import convert_jsonl_to_tsv

    stats = convert_jsonl_to_tsv(jsonl, root, *TsvPaths.from_prefix(out), num_workers=num_workers, progress=False)
    if stats.skipped:
        raise RuntimeError(f"converter skipped {len(stats.skipped)} benchmark lines: {stats.skipped[:3]}")


def main(quick: bool = False) -> dict[str, Any]:
    """Images/s (median, min, max over repeats) per worker count, and the output-identity check."""
    num_images = QUICK_IMAGES if quick else FULL_IMAGES
    repeats = 1 if quick else 3
    result: dict[str, Any] = {"num_images": num_images, "image_size": list(IMAGE_SIZE), "repeats": repeats,
                              "images_per_s": {}}
    with tempfile.TemporaryDirectory(prefix="bench_converter_") as tmp:
        jsonl, root = build_jsonl(tmp, num_images)
        result["input_mb"] = sum(e.stat().st_size for e in os.scandir(root)) / 2**20
        outputs = {}
        for workers in WORKER_COUNTS:
            out = os.path.join(tmp, f"out_w{workers}")
            seconds = measure(lambda w=workers, o=out: _convert(jsonl, root, o, w), repeats=repeats)
            rates = [num_images / s for s in seconds["runs"]]
            result["images_per_s"][f"workers={workers}"] = {
                "median": float(np.median(rates)), "min": min(rates), "max": max(rates), "runs": rates}
            with open(f"{out}.images.tsv", "rb") as fh:
                outputs[workers] = fh.read()
            logger.info("converter %d worker(s): %.1f images/s", workers, float(np.median(rates)))
        result["outputs_identical"] = len(set(outputs.values())) == 1
    one, two = (result["images_per_s"][f"workers={w}"]["median"] for w in WORKER_COUNTS)
    result["speedup_2_vs_1"] = two / one
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_IMAGES} images, one run each")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(main(quick=parser.parse_args().quick), indent=2))

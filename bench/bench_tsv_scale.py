"""TSV reader at scale: a 10-million-sample lineidx in the parent and in forked DataLoader workers.

Builds a real (tiny-payload) TSV triple of N samples: one small JPEG line in images.tsv, N
annotation lines ``0\\t{}`` and their lineidx (written with a vectorised numpy formatter). Then, in
a fresh child process (so the numbers are not polluted by the benchmark driver):

* load time of ``TsvReader`` (= ``load_lineidx``), RSS added in the parent and the peak on the way;
* with 2 forked DataLoader workers reading annotations spread over the whole index, each worker's
  ``/proc/<pid>/smaps_rollup``. The figure that matters is **USS** (``Private_Clean +
  Private_Dirty``): pages only that worker maps, i.e. copies made after the fork plus its own
  allocations. ``Pss`` is reported too but charges each worker its *share* of the parent's pages
  (the offsets array counts half in each of 2 workers), so it is not a copy measure. The same
  workers over a 10-sample index give the fixed cost of a worker; the difference is what the big
  index adds per worker.

Acceptance (DESIGN): parent RSS added < 100 MB; USS added per worker < 20 MB.
Run ``python -m bench.bench_tsv_scale [--quick]``; :func:`main` returns the numbers.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from bench.common import MIB, measure, peak_rss_bytes, rss_bytes, smaps_rollup

logger = logging.getLogger(__name__)

FULL_SAMPLES = 10_000_000
QUICK_SAMPLES = 1_000_000
PARENT_LIMIT_MB = 100.0
WORKER_LIMIT_MB = 20.0
NUM_WORKERS = 2
ANN_LINE = b"0\t{}\n"  # every annotation points at the one image line (offset 0)


def format_lineidx(offsets: np.ndarray) -> bytes:
    """``"{offset}\\n"`` per entry, as bytes, without a Python loop (offsets must be >= 0)."""
    x = np.asarray(offsets, dtype=np.int64)
    if x.size == 0:
        return b""
    width = len(str(int(x.max())))
    table = np.empty((x.size, width + 1), dtype=np.uint8)
    table[:, width] = ord("\n")
    rest = x.copy()
    for col in range(width - 1, -1, -1):  # fixed-width digits, right-aligned
        table[:, col] = ord("0") + rest % 10
        rest //= 10
    num_digits = np.ones(x.size, dtype=np.int64)
    power = 10
    while power <= x.max():
        num_digits += x >= power
        power *= 10
    keep = np.arange(width + 1)[None, :] >= (width - num_digits)[:, None]  # drop leading zeros
    return table[keep].tobytes()


def _tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def write_synthetic_triple(directory: str, num_samples: int) -> tuple[str, str, str]:
    """A valid TSV triple with ``num_samples`` annotation lines sharing one image; returns its paths."""
    import base64

    from dataset.tsv import TsvPaths

    paths = TsvPaths.from_prefix(os.path.join(directory, f"scale{num_samples}"))
    with open(paths[0], "wb") as fh:
        fh.write(b"0\t" + base64.b64encode(_tiny_jpeg()) + b"\n")
    with open(paths[1], "wb") as fh:
        fh.write(ANN_LINE * num_samples)
    with open(paths[2], "wb") as fh:
        fh.write(format_lineidx(np.arange(num_samples, dtype=np.int64) * len(ANN_LINE)))
    return paths  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------- child side


def _worker_dataset(reader: Any, num_reads: int) -> Any:
    """An IterableDataset: each worker reads its share of ``num_reads`` indices spread over the
    whole index, then yields its own smaps_rollup (measured inside the worker, after the reads)."""
    from torch.utils.data import IterableDataset, get_worker_info

    class _Reads(IterableDataset):
        def __iter__(self) -> Any:
            info = get_worker_info()
            wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
            idx = np.linspace(0, len(reader) - 1, num_reads).astype(np.int64)[wid::nw]
            for i in idx:
                reader.read_annotation(int(i))
            reader.read(int(idx[-1]))  # decode the image once: the full read path runs
            gc.collect()
            yield {"pid": os.getpid(), "reads": len(idx), "smaps": smaps_rollup()}

    return _Reads()


def _run_workers(reader: Any, num_reads: int) -> list[dict[str, Any]]:
    from torch.utils.data import DataLoader

    loader = DataLoader(_worker_dataset(reader, num_reads), batch_size=None, num_workers=NUM_WORKERS,
                        multiprocessing_context="fork")
    return list(loader)


def child_main(paths: list[str], load_repeats: int, num_reads: int, tiny_paths: list[str]) -> dict[str, Any]:
    """Everything measured in the fresh process; returns a JSON-able dict (sizes in MiB)."""
    import torch  # noqa: F401  (imported before the baseline, as a training process would)

    from dataset.tsv import TsvReader, load_lineidx

    gc.collect()
    rss0, hwm0 = rss_bytes(), peak_rss_bytes()
    start = time.perf_counter()
    reader = TsvReader(*paths)
    first_load = time.perf_counter() - start
    gc.collect()
    rss1, hwm1 = rss_bytes(), peak_rss_bytes()
    load = measure(lambda: load_lineidx(paths[2]), repeats=load_repeats)
    load["runs"] = [first_load, *load["runs"]]
    load.update(median=float(np.median(load["runs"])), min=min(load["runs"]), max=max(load["runs"]))
    tiny = TsvReader(*tiny_paths)
    baseline = _run_workers(tiny, num_reads=10)
    workers = _run_workers(reader, num_reads)
    base_uss = max(w["smaps"]["Uss"] for w in baseline)
    per_worker = [
        {
            "pid": w["pid"], "reads": w["reads"],
            "uss_mb": w["smaps"]["Uss"] / MIB, "private_dirty_mb": w["smaps"]["Private_Dirty"] / MIB,
            "pss_mb": w["smaps"]["Pss"] / MIB, "rss_mb": w["smaps"]["Rss"] / MIB,
            "uss_added_mb": (w["smaps"]["Uss"] - base_uss) / MIB,
        }
        for w in workers
    ]
    return {
        "num_samples": len(reader),
        "offsets_array_mb": reader.offsets.nbytes / MIB,
        "lineidx_file_mb": os.path.getsize(paths[2]) / MIB,
        "load_seconds": load,
        "parent_rss_added_mb": (rss1 - rss0) / MIB,
        "parent_peak_added_mb": (max(hwm1, rss1) - rss0) / MIB if hwm1 > hwm0 else (rss1 - rss0) / MIB,
        "worker_baseline_uss_mb": base_uss / MIB,
        "workers": per_worker,
    }


# ------------------------------------------------------------------------------------------ parent side


def main(quick: bool = False) -> dict[str, Any]:
    """Build the triple, measure it in a child process and check the acceptance limits."""
    num_samples = QUICK_SAMPLES if quick else FULL_SAMPLES
    with tempfile.TemporaryDirectory(prefix="bench_tsv_scale_") as tmp:
        start = time.perf_counter()
        paths = write_synthetic_triple(tmp, num_samples)
        write_seconds = time.perf_counter() - start
        tiny_paths = write_synthetic_triple(tmp, 10)
        args = {"paths": list(paths), "tiny_paths": list(tiny_paths),
                "load_repeats": 2 if quick else 4, "num_reads": 20_000 if quick else 100_000}
        proc = subprocess.run(
            [sys.executable, "-m", "bench.bench_tsv_scale", "--child", json.dumps(args)],
            capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
    if proc.returncode != 0:
        raise RuntimeError(f"bench_tsv_scale child failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["write_seconds"] = write_seconds
    worst_worker = max(w["uss_added_mb"] for w in result["workers"])
    result["worker_uss_added_max_mb"] = worst_worker
    result["memory_measure"] = ("USS = Private_Clean + Private_Dirty from /proc/<pid>/smaps_rollup, measured "
                                "inside each worker after its reads, minus a worker over a 10-sample index")
    result["acceptance"] = {
        "parent_rss_under_100mb": result["parent_rss_added_mb"] < PARENT_LIMIT_MB,
        "worker_added_under_20mb": worst_worker < WORKER_LIMIT_MB,
    }
    if num_samples != FULL_SAMPLES:
        result["acceptance"]["note"] = f"--quick: {num_samples} samples, limits are for {FULL_SAMPLES}"
    logger.info("lineidx %d samples: load %.2fs, parent +%.1f MiB (peak +%.1f), worker USS +%.1f MiB",
                num_samples, result["load_seconds"]["median"], result["parent_rss_added_mb"],
                result["parent_peak_added_mb"], worst_worker)
    return result


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES} samples instead of {FULL_SAMPLES}")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: JSON args of child_main
    return p.parse_args(argv)


if __name__ == "__main__":
    ns = _parse_args(None)
    if ns.child is not None:
        print(json.dumps(child_main(**json.loads(ns.child))))
    else:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        print(json.dumps(main(quick=ns.quick), indent=2))

"""python -m bench: missing modules are skipped with a note, the quick run writes one results JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.__main__ import run_benchmark
from bench.bench_tsv_scale import format_lineidx
from dataset.tsv import load_lineidx

REPO = Path(__file__).resolve().parents[2]


def test_missing_benchmark_is_a_note() -> None:
    outcome = run_benchmark("does_not_exist", quick=True)
    assert outcome["status"] == "missing" and "not measured" in outcome["note"]


def test_format_lineidx_round_trips(tmp_path: Path) -> None:
    offsets = np.array([0, 7, 10, 99, 100, 123456789], dtype=np.int64)
    data = format_lineidx(offsets)
    assert data == b"".join(b"%d\n" % o for o in offsets)
    (tmp_path / "x.lineidx").write_bytes(data)
    assert load_lineidx(tmp_path / "x.lineidx").tolist() == offsets.tolist()


def test_unknown_only_name_is_rejected() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "--only", "nope"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0 and "unknown benchmark" in proc.stderr


@pytest.mark.slow
def test_quick_run_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "tsv_scale,grpo_step", "--output", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["quick"] is True
    tsv = record["benchmarks"]["tsv_scale"]
    assert tsv["status"] == "ok" and tsv["result"]["acceptance"]["worker_added_under_20mb"]
    assert record["benchmarks"]["grpo_step"]["status"] in ("missing", "ok")
    assert "| tsv_scale" in proc.stdout

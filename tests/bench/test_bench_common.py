"""bench.common: stats, /proc memory readers, table flattening, atomic JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.common import (
    format_table,
    measure,
    rss_bytes,
    smaps_rollup,
    stats_of,
    summary_rows,
    write_json_atomic,
)


def test_stats_of_median_min_max() -> None:
    assert stats_of([3, 1, 2]) == {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [3.0, 1.0, 2.0]}
    with pytest.raises(ValueError):
        stats_of([])


def test_measure_runs_warmup_and_repeats() -> None:
    calls = []
    result = measure(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and len(result["runs"]) == 3 and result["min"] <= result["median"] <= result["max"]


def test_memory_readers_report_this_process() -> None:
    rollup = smaps_rollup(os.getpid())
    assert rss_bytes() > 10 * 2**20
    assert rollup["Uss"] == rollup["Private_Clean"] + rollup["Private_Dirty"] > 0
    assert rollup["Pss"] <= rollup["Rss"]


def test_summary_rows_flatten_nested_results() -> None:
    rows = summary_rows("b", {"x": {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [1, 2, 3]}, "n": 5,
                              "ok": True, "why": "a" * 100, "raw": [1, 2]})
    assert rows == [("b", "x", "2", "[1, 3]"), ("b", "n", "5", ""), ("b", "ok", "True", "")]
    table = format_table(rows, ("benchmark", "metric", "median", "spread"))
    assert table.splitlines()[0].startswith("| benchmark") and len(table.splitlines()) == 5


def test_write_json_atomic(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.json"
    write_json_atomic(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    with pytest.raises(ValueError):
        write_json_atomic(path, {"nan": float("nan"), "loop": _circular()})
    assert json.loads(path.read_text()) == {"a": 1}  # a failed write leaves the old file and no temp
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def _circular() -> dict:
    d: dict = {}
    d["self"] = d
    return d

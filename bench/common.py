"""Shared helpers of the benchmarks: repeated timing, process memory, a results table, atomic JSON.

Pure standard library (no torch), so ``bench/gpu_check.py`` and the CPU benchmarks can both use it.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dataset.atomic_write import write_json_atomic

__all__ = [
    "format_table",
    "measure",
    "peak_rss_bytes",
    "rss_bytes",
    "smaps_rollup",
    "stats_of",
    "save_results",
    "summary_rows",
    "write_json_atomic",
]

MIB = 1024 * 1024


def stats_of(values: Iterable[float]) -> dict[str, Any]:
    """``{"median", "min", "max", "runs"}`` of a non-empty series of measurements."""
    runs = [float(v) for v in values]
    if not runs:
        raise ValueError("stats_of needs at least one value")
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": runs}


def measure(fn: Callable[[], Any], repeats: int, warmup: int = 0) -> dict[str, Any]:
    """Wall-clock seconds of ``fn()`` over ``repeats`` runs (after ``warmup`` untimed runs), via ``stats_of``."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return stats_of(seconds)


def _status_field(pid: int | str, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` in bytes (e.g. ``VmRSS``, ``VmHWM``)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(f"/proc/{pid}/status has no {field}")


def rss_bytes(pid: int | str = "self") -> int:
    """Current resident set size of ``pid`` (default: this process) in bytes."""
    return _status_field(pid, "VmRSS")


def peak_rss_bytes(pid: int | str = "self") -> int:
    """Peak resident set size (``VmHWM``) of ``pid`` in bytes; falls back to ``ru_maxrss`` for self."""
    try:
        return _status_field(pid, "VmHWM")
    except (OSError, KeyError):
        if pid != "self":
            raise
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def smaps_rollup(pid: int | str = "self") -> dict[str, int]:
    """``/proc/<pid>/smaps_rollup`` as ``{field: bytes}`` (Rss, Pss, Private_Clean, Private_Dirty, ...).

    ``Uss`` (unique set size: ``Private_Clean + Private_Dirty``) is added: the memory freed if the
    process exited, i.e. what the process costs on top of the pages it shares.
    """
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    out["Uss"] = out.get("Private_Clean", 0) + out.get("Private_Dirty", 0)
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value == 0 or 0.01 <= abs(value) < 1e6:
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{value:.3g}"


def summary_rows(name: str, result: Any, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """Flatten a benchmark's result dict into ``(benchmark, metric, median, [min, max])`` rows.

    A dict with ``median``/``min``/``max`` keys is one row; other numbers and strings are one row
    each; lists (raw runs) and long explanatory strings are left out of the table (they stay in the JSON).
    """
    rows: list[tuple[str, str, str, str]] = []
    if isinstance(result, Mapping):
        if {"median", "min", "max"} <= set(result):
            spread = f"[{_fmt(result['min'])}, {_fmt(result['max'])}]"
            return [(name, prefix or "-", _fmt(result["median"]), spread)]
        for key, value in result.items():
            if key == "runs":
                continue
            rows += summary_rows(name, value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(result, str) and len(result) > 40:
        pass
    elif isinstance(result, (int, float, str, bool)) or result is None:
        rows.append((name, prefix or "-", _fmt(result), ""))
    return rows


def format_table(rows: Iterable[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A Markdown table (also readable as plain text) of ``rows`` under ``header``."""
    rows = [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def save_results(results: Any, out: str | None, name: str) -> None:
    """Write ``results`` atomically to ``out``, else to ``$OUT/name`` when ``$OUT`` is set (the GPU session's
    output folder), else nowhere; prints the path written."""
    out = out or (os.path.join(os.environ["OUT"], name) if os.environ.get("OUT") else None)
    if out:
        write_json_atomic(out, results)
        print(f"results: {out}")

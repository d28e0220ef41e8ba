"""Run every benchmark: ``python -m bench [--quick] [--only tsv_scale,converter] [--output PATH]``.

Each ``bench/bench_<name>.py`` module's ``main()`` returns a dict; modules not written yet are
skipped with a note. Prints one table (median [min, max] per metric) and writes all results to
``bench/results/<YYYY-MM-DD>.json`` (atomically). ``--quick`` is the < 3 minute smoke run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import inspect
import logging
import os
import platform
import sys
import time
import traceback
from typing import Any

from bench.common import format_table, summary_rows, write_json_atomic

logger = logging.getLogger("bench")

BENCHMARKS = ("tsv_scale", "converter", "rewards", "reward_worst_case", "sft_data", "sft_step", "grpo_step", "actor_forward",
              "rollout_prefill", "memory_plan")
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def run_benchmark(name: str, quick: bool) -> dict[str, Any]:
    """Import ``bench.bench_<name>`` lazily and run its ``main()``; never raises.

    Returns ``{"status": "ok"|"missing"|"failed", "seconds", "result"|"note"}``.
    """
    module_name = f"bench.bench_{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return {"status": "missing", "note": f"{module_name} does not exist yet: not measured"}
        return {"status": "failed", "note": f"import failed: {exc}", "traceback": traceback.format_exc()}
    kwargs = {"quick": quick} if "quick" in inspect.signature(module.main).parameters else {}
    start = time.perf_counter()
    try:
        result = module.main(**kwargs)
    except Exception as exc:  # one broken benchmark must not hide the others' numbers
        logger.exception("benchmark %s failed", name)
        return {"status": "failed", "seconds": time.perf_counter() - start, "note": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()}
    note = None if kwargs or not quick else "main() has no quick mode: ran in full"
    return {"status": "ok", "seconds": time.perf_counter() - start, "result": result,
            **({"note": note} if note else {})}


def _select(only: str | None) -> list[str]:
    if not only:
        return list(BENCHMARKS)
    names = [n.strip().removeprefix("bench_") for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"--only: unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    return names


def _machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_avg_1min_at_start": os.getloadavg()[0]}


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    p = argparse.ArgumentParser(prog="python -m bench", description="Run the benchmarks and record the results.")
    p.add_argument("--quick", action="store_true", help="small sizes and single runs (< 3 minutes): a smoke test")
    p.add_argument("--only", default=None, help=f"comma list of benchmarks to run; known: {','.join(BENCHMARKS)}")
    p.add_argument("--output", default=None,
                   help="results JSON path (default bench/results/<YYYY-MM-DD>.json, or ...-quick.json with --quick)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; returns 1 if any failed, else 0."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    names = _select(args.only)
    today = datetime.date.today().isoformat()
    output = args.output or os.path.join(RESULTS_DIR, f"{today}{'-quick' if args.quick else ''}.json")
    record: dict[str, Any] = {"date": today, "quick": args.quick, "machine": _machine(), "benchmarks": {}}
    start = time.perf_counter()
    for name in names:
        logger.info("running %s%s", name, " (quick)" if args.quick else "")
        record["benchmarks"][name] = outcome = run_benchmark(name, args.quick)
        logger.info("%s: %s%s", name, outcome["status"], f" in {outcome['seconds']:.1f}s" if "seconds" in outcome else "")
    record["total_seconds"] = time.perf_counter() - start
    rows = []
    for name, outcome in record["benchmarks"].items():
        if outcome["status"] == "ok":
            rows += summary_rows(name, outcome["result"])
        else:
            rows.append((name, outcome["status"], "-", outcome["note"].splitlines()[0]))
    print(format_table(rows, ("benchmark", "metric", "median", "[min, max] / note")))
    write_json_atomic(output, record)
    print(f"\nresults: {output}  ({record['total_seconds']:.0f}s)")
    return 1 if any(o["status"] == "failed" for o in record["benchmarks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())

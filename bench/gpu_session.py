"""One GPU lease, one command: the GPU figures that matter most first, inside a time budget.

``bash bench/gpu_session.sh`` (which checks python3/torch and installs the carried wheels first) runs
``python3 -m bench.gpu_session``. Stages run in the order of :data:`STAGES` (most valuable first); each
starts only if its estimate fits the seconds left of ``BUDGET_S`` (default 480, counted from the
wrapper's start) and gets at most what is left as its timeout. A stage that does not fit, or whose
wheel is missing, is skipped and listed with the command that runs it alone.

``$OUT`` (default ``/tmp/gpu_session``) receives at most 8 files, nothing deeper than ``logs/``:

* ``session.json``: every figure of every stage that ran (the benches' own results), the card, torch and
  transformers versions, the date, and per stage its estimate, measured seconds and status;
* ``session.md``: the figures as one Markdown table ready for ``docs/gpu-results.md``, then the stages;
* ``logs/<stage>.log``: each stage's output (cut to its last 15 MiB).

Environment: ``BUDGET_S``, ``STAGES`` (names, comma or space separated: only these), ``DRY_RUN=1`` (the
same stages at test size on the CPU, measured against the dry-run estimates), ``SHORT_STEPS``/``LONG_STEPS``
(trainer stages). The estimates below are seconds of the whole stage (start-up included): ``gpu_s`` on an
H100/H200, ``dry_s`` on 2 busy CPU cores; after a real run, replace them with the ``measured`` seconds that
``session.json`` lists.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import format_table, write_json_atomic
from dataset.atomic_write import write_text_atomic

MAX_LOG_BYTES = 15 * 2**20
WHEELS = {"mmengine": "mmengine", "pycocotools": "pycocotools", "deepspeed": "deepspeed"}
PACKED_MODES = ("stock_packed", "packed_sdpa_split", "packed_flex", "packed_varlen")
PATH_MODES = ("batched_windows", "linear_ce_chunked", "linear_ce_liger", "no_checkpointing", "compile_blocks",
              "liger_kernels", "all_checkpoint_every_2nd")


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of the session: what it measures, its argv (GPU and dry run), estimates in seconds."""

    name: str
    title: str
    argv: tuple[str, ...]
    dry_argv: tuple[str, ...]
    gpu_s: float
    dry_s: float
    needs: tuple[str, ...] = ()  # modules beyond torch and transformers

    def estimate(self, dry_run: bool) -> float:
        return self.dry_s if dry_run else self.gpu_s


def _sft_speed(modes: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    gpu = ("-m", "bench.bench_sft_speed", "--samples", "8", "--steps", "2", "--warmup", "1", "--modes", *modes)
    dry = ("-m", "bench.bench_sft_speed", "--dry-run", "--samples", "2", "--steps", "1", "--warmup", "0",
           "--modes", *modes)
    return gpu, dry


# Priority order. gpu_s: guesses from the 2026-11-26 H200 run (3B build ~20 s, ~6 s per SFT step, compile
# warm-up ~60 s, HF generate ~380 tokens/s at 16 sequences) until a session measures them.
STAGES: tuple[Stage, ...] = (
    Stage("sft_fast", "SFT trainer path, 3B shape, bf16: stock padded vs all fast paths",
          *_sft_speed(("stock_padded", "all")), gpu_s=150, dry_s=20),
    Stage("rollout", "HF rollout tokens/s at 16, 128, 512 sequences, shared prefill",
          ("-m", "bench.bench_rollout", "--settings", "shared_prefill", "--sizes", "16", "128", "512"),
          ("-m", "bench.bench_rollout", "--dry-run", "--settings", "shared_prefill"), gpu_s=150, dry_s=20),
    Stage("sft_packing", "SFT packed vs padded: each packed attention alone", *_sft_speed(PACKED_MODES),
          gpu_s=150, dry_s=25),
    Stage("sft_paths", "SFT: each other fast path alone", *_sft_speed(PATH_MODES), gpu_s=330, dry_s=30),
    Stage("actor_forward", "GRPO actor forward: all positions / answer only / shared prompt",
          ("-m", "bench.bench_actor_forward", "--gpu"), ("-m", "bench.bench_actor_forward", "--dry-run"),
          gpu_s=90, dry_s=20),
    Stage("zero2", "scripts/sft.sh through DeepSpeed ZeRO-2, bf16, packing (demo model), then evaluate",
          ("bench/gpu_sft_stage.sh", "zero2"), ("bench/gpu_sft_stage.sh", "zero2"), gpu_s=150, dry_s=300,
          needs=("deepspeed", "mmengine", "pycocotools")),
    Stage("demo_long", "the CPU demo recipe for LONG_STEPS steps on the GPU (fp32), then evaluate",
          ("bench/gpu_sft_stage.sh", "demo_long"), ("bench/gpu_sft_stage.sh", "demo_long"), gpu_s=240, dry_s=240,
          needs=("mmengine", "pycocotools")),
)


# ------------------------------------------------------------------------------------------- the plan


def run_stages(stages: list[Stage], budget_s: float, elapsed: Callable[[], float], dry_run: bool,
               missing: dict[str, list[str]], run_one: Callable[[Stage, float], bool]) -> list[dict[str, Any]]:
    """Each stage in order: skipped when a needed module is missing or its estimate exceeds what is left,
    else ``run_one(stage, timeout_s)`` (True when it succeeded). Returns one record per stage."""
    records = []
    for stage in stages:
        left = budget_s - elapsed()
        record = {"name": stage.name, "title": stage.title, "estimate_s": stage.estimate(dry_run),
                  "left_s": round(left, 1), "command": alone_command(stage, dry_run)}
        if missing.get(stage.name):
            record.update(status="skipped", reason="missing wheel: " + ", ".join(missing[stage.name]))
        elif stage.estimate(dry_run) > left:
            record.update(status="skipped", reason=f"estimate {stage.estimate(dry_run):.0f} s > {left:.0f} s left")
        else:
            start = elapsed()
            ok = run_one(stage, left)
            record.update(status="ran" if ok else "failed", seconds=round(elapsed() - start, 1))
        records.append(record)
    return records


def alone_command(stage: Stage, dry_run: bool) -> str:
    """The one line that runs ``stage`` alone, with a budget that fits its estimate."""
    budget = int(stage.estimate(dry_run) * 1.5 + 30)
    return f"{'DRY_RUN=1 ' if dry_run else ''}STAGES={stage.name} BUDGET_S={budget} bash bench/gpu_session.sh"


def select_stages(names: str) -> list[Stage]:
    """The stages named in ``names`` (comma/space separated, in priority order), or all when empty."""
    wanted = [n for n in re.split(r"[,\s]+", names.strip()) if n]
    known = {s.name for s in STAGES}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        print(f"[gpu_session] STAGES: unknown stage {unknown[0]!r} (known: {', '.join(s.name for s in STAGES)})",
              file=sys.stderr)
        raise SystemExit(2)
    return [s for s in STAGES if not wanted or s.name in wanted]


# ------------------------------------------------------------------------------------ figures -> table


def _num(value: Any, fmt: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, fmt)


def figure_rows(name: str, result: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows ``(stage, case, tokens/s, MFU, peak GiB, plan est. GiB, other)`` of one stage's results."""
    if name.startswith("sft_") and "modes" in result:
        rows = [(name, mode, _num(r["tokens_per_s"], ".0f"), _num(r.get("mfu"), ".1f", 100) + "%" * bool(r.get("mfu")),
                 _num(r.get("peak_memory_gib"), ".1f"), _num(r.get("estimated_peak_gib"), ".1f"),
                 f"first loss {r['first_loss']:.4f}; build {_num(r.get('build_seconds'), '.1f')} s")
                for mode, r in result["modes"].items()]
        return rows + [(name, mode, "-", "-", "-", "-", f"skipped: {why}") for mode, why in result["skipped"].items()]
    if name == "rollout":
        return [(name, f"{r['setting']} @ {r['sequences']} seqs", _num(r["tokens_per_s"], ".0f"), "-", "-", "-",
                 f"{r['seconds']['median']:.2f} s per generate") for r in result["runs"].values()]
    if name == "actor_forward":
        return [(name, mode, "-", "-", _num(result.get("peak_gib", {}).get(mode), ".1f"), "-",
                 f"{s['median']:.3f} s fwd+bwd") for mode, s in result["seconds"].items()]
    f1 = next((v for k, v in result.items() if k.endswith("box_mean_f1")), None)
    return [(name, f"{result.get('steps', '?')} steps", "-", "-", "-", "-",
             f"box mean F1 {_num(f1, '.3f')}; train {_num(result.get('train_runtime'), '.0f')} s; "
             f"final loss {_num(result.get('final_loss'), '.3f')}")]


def markdown(session: dict[str, Any]) -> str:
    """``session.md``: a heading line, the figures table, the stages table."""
    figures = [row for name, result in session["figures"].items() for row in figure_rows(name, result)]
    stages = [(s["name"], s["status"], f"{s['estimate_s']:.0f}", _num(s.get("seconds"), ".0f"),
               s.get("reason", ""), f"`{s['command']}`") for s in session["stages"]]
    head = (f"GPU session {session['date']}: {session['card']}, torch {session['torch']}, transformers "
            f"{session['transformers']}, budget {session['budget_s']:.0f} s{' (DRY RUN, CPU)' * session['dry_run']}")
    return "\n\n".join([head, format_table(figures, ("stage", "case", "tokens/s", "MFU", "peak GiB", "plan est. GiB",
                                                     "other")),
                        format_table(stages, ("stage", "status", "estimate s", "seconds", "why skipped", "run alone"))])


# ----------------------------------------------------------------------------------------------- effects


def check_imports(stages: list[Stage]) -> dict[str, Any]:
    """Card, versions, and per stage the modules it needs that do not import (one subprocess)."""
    modules = sorted({m for s in stages for m in s.needs})
    code = ("import importlib, json, sys, torch, transformers\nbad = []\nfor m in sys.argv[1:]:\n"
            "    try: importlib.import_module(m)\n    except Exception: bad.append(m)\n"
            "card = torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'\n"
            "print(json.dumps({'bad': bad, 'card': card, 'torch': torch.__version__,"
            " 'transformers': transformers.__version__}))")
    proc = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"[gpu_session] torch/transformers do not import: {proc.stderr.strip().splitlines()[-1]}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["missing"] = {s.name: [WHEELS.get(m, m) for m in s.needs if m in info["bad"]] for s in stages}
    return info


def _cap(path: Path) -> None:
    """Keep the last :data:`MAX_LOG_BYTES` of a log."""
    if path.stat().st_size > MAX_LOG_BYTES:
        with open(path, "rb") as fh:
            fh.seek(-MAX_LOG_BYTES, os.SEEK_END)
            tail = fh.read()
        path.write_bytes(b"[cut: the log's start is dropped]\n" + tail)


def _trainer_figures(log: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The evaluation metrics plus steps, train_runtime and the last logged loss from an sft.sh log."""
    losses = re.findall(r"'loss': '?([0-9.]+)", log)
    runtime = re.findall(r"'train_runtime': '?([0-9.]+)", log)
    steps = re.findall(r"'epoch': [^}]*", log)
    return {**metrics, "steps": len(steps) or None, "final_loss": float(losses[-1]) if losses else None,
            "train_runtime": float(runtime[-1]) if runtime else None}


def run_stage(stage: Stage, timeout_s: float, dry_run: bool, out: Path, work: Path,
              figures: dict[str, Any]) -> bool:
    """Runs one stage with its output in ``out/logs/<name>.log``; its results go into ``figures``."""
    result = work / f"{stage.name}.json"
    argv = stage.dry_argv if dry_run else stage.argv
    cmd = ["bash", *argv] if argv[0].endswith(".sh") else [sys.executable, *argv, "--out", str(result)]
    env = {**os.environ, "OUT": str(work), "RESULT": str(result), "DRY_RUN": "1" if dry_run else "0"}
    log = out / "logs" / f"{stage.name}.log"
    with open(log, "w", encoding="utf-8") as fh:
        try:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            rc = None
            fh.write(f"\n[gpu_session] stopped at the budget: {timeout_s:.0f} s\n")
    _cap(log)
    text = log.read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        if line.startswith("|") or "gpu_sft_stage]" in line:
            print("    " + line)
    if result.exists():
        data = json.loads(result.read_text())
        figures[stage.name] = _trainer_figures(text, data) if argv[0].endswith(".sh") else data
    if rc != 0:
        print(f"[gpu_session] {stage.name} {'timed out' if rc is None else f'failed (exit {rc})'}: "
              f"see {log}; last line: {(text.strip().splitlines() or [''])[-1][:200]}")
    return rc == 0


def main() -> int:
    dry_run = os.environ.get("DRY_RUN", "0") == "1"
    budget = float(os.environ.get("BUDGET_S", "480"))
    t0 = float(os.environ.get("GPU_SESSION_T0") or time.time())
    out = Path(os.environ.get("OUT") or "/tmp/gpu_session")
    work = Path(os.environ.get("WORK") or f"{out}.work")
    stages = select_stages(os.environ.get("STAGES", ""))
    (out / "logs").mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    info = check_imports(stages)
    lacking = sorted({w for ws in info["missing"].values() for w in ws})
    if lacking:
        print(f"[gpu_session] missing wheel(s): {', '.join(lacking)} (their stages are skipped; carry .whl filled "
              "by bash bench/gpu_wheels.sh)")
    figures: dict[str, Any] = {}

    def run_one(stage: Stage, left: float) -> bool:
        print(f"[gpu_session] {time.strftime('%T')} {stage.name}: {stage.title} "
              f"(estimate {stage.estimate(dry_run):.0f} s, {left:.0f} s left)", flush=True)
        return run_stage(stage, left, dry_run, out, work, figures)

    records = run_stages(stages, budget, lambda: time.time() - t0, dry_run, info["missing"], run_one)
    session = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "card": info["card"], "torch": info["torch"], "transformers": info["transformers"],
               "python": sys.version.split()[0], "dry_run": dry_run, "budget_s": budget,
               "seconds": round(time.time() - t0, 1), "stages": records, "figures": figures,
               "measured": {r["name"]: r["seconds"] for r in records if r["status"] == "ran"}}
    write_json_atomic(str(out / "session.json"), session)
    table = markdown(session)
    write_text_atomic(out / "session.md", table + "\n")
    print(table)
    for r in records:
        if r["status"] == "skipped":
            print(f"[gpu_session] skipped {r['name']} ({r['reason']}): {r['command']}")
    failed = [r["name"] for r in records if r["status"] == "failed"]
    ran = sum(r["status"] == "ran" for r in records)
    print(f"[gpu_session] finished in {session['seconds']:.0f} s: {ran} ran, {len(failed)} failed"
          f"{' (' + ', '.join(failed) + ')' if failed else ''}; {out}/session.json, {out}/session.md")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""bench/gpu_session.sh: stages in priority order inside a budget (bench/gpu_session.py), the CPU dry run's
$OUT, the up-front import checks, and the trainer stage through ZeRO-2 (bench/gpu_sft_stage.sh)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bench.gpu_session import STAGES, Stage, alone_command, run_stages, select_stages

REPO = Path(__file__).resolve().parents[2]


def _stage(name: str, estimate: float, needs: tuple[str, ...] = ()) -> Stage:
    return Stage(name, name, ("-m", name), ("-m", name), gpu_s=estimate, dry_s=estimate / 10, needs=needs)


def test_stages_run_in_order_while_their_estimates_fit() -> None:
    # Budget 100 s; each stage takes exactly its estimate on a fake clock.
    stages = [_stage("a", 40), _stage("b", 70), _stage("c", 30), _stage("d", 40), _stage("e", 10, ("deepspeed",))]
    clock = [0.0]
    ran: list[tuple[str, float]] = []

    def run_one(stage: Stage, timeout: float) -> bool:
        ran.append((stage.name, timeout))
        clock[0] += stage.gpu_s
        return stage.name != "c"

    records = run_stages(stages, 100, lambda: clock[0], False, {"e": ["deepspeed"]}, run_one)
    # a: 100 left -> runs; b: 70 > 60 left -> skipped; c: 30 <= 60 -> runs (fails); d: 40 > 30 -> skipped;
    # e fits (10 <= 30) but its wheel is missing.
    assert ran == [("a", 100), ("c", 60)]
    assert [r["status"] for r in records] == ["ran", "skipped", "failed", "skipped", "skipped"]
    assert records[1]["reason"] == "estimate 70 s > 60 s left" and records[4]["reason"] == "missing wheel: deepspeed"
    assert records[0]["seconds"] == 40 and records[2]["seconds"] == 30
    assert records[1]["command"] == "STAGES=b BUDGET_S=135 bash bench/gpu_session.sh"  # 70 * 1.5 + 30


def test_stage_selection_keeps_priority_order() -> None:
    assert [s.name for s in select_stages("zero2, sft_fast")] == ["sft_fast", "zero2"]
    assert select_stages("") == list(STAGES)
    with pytest.raises(SystemExit) as exc:
        select_stages("sft_fats")
    assert exc.value.code == 2
    assert alone_command(STAGES[0], True).startswith("DRY_RUN=1 STAGES=sft_fast ")


def _run(env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "bench/gpu_session.sh"], cwd=REPO, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_dry_run_fills_out_from_its_own_figures_and_lists_what_it_skipped(tmp_path: Path) -> None:
    out = tmp_path / "out"
    budget = sum(s.dry_s for s in STAGES) / 4  # a fraction of the estimates: some stages must be skipped
    proc = _run({"DRY_RUN": "1", "OUT": str(out), "BUDGET_S": str(budget)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    session = json.loads((out / "session.json").read_text())
    records = session["stages"]
    assert [r["name"] for r in records] == [s.name for s in STAGES]
    ran = [r["name"] for r in records if r["status"] == "ran"]
    skipped = [r for r in records if r["status"] == "skipped"]
    assert ran and ran[0] == "sft_fast" and skipped
    lefts = [r["left_s"] for r in records]
    assert lefts == sorted(lefts, reverse=True)  # decided one after another, in priority order
    for r in records:
        assert (r["estimate_s"] <= r["left_s"]) == (r["status"] == "ran"), r
    positions = [proc.stdout.index(f" {name}: ") for name in ran]
    assert positions == sorted(positions)
    md = (out / "session.md").read_text()
    for r in skipped:
        assert f"[gpu_session] skipped {r['name']} ({r['reason']}): DRY_RUN=1 STAGES={r['name']} " in proc.stdout
        assert f"`{r['command']}`" in md
    # Only what comes back: session.json, session.md and one log per stage that ran; <= 8 files, <= 2 deep.
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(["session.json", "session.md", *(f"logs/{n}.log" for n in ran)])
    assert len(files) <= 8 and all(p.count("/") <= 1 for p in files)
    assert all((out / p).stat().st_size < 16 * 2**20 for p in files)
    # The tables hold the dry run's own figures.
    assert set(session["figures"]) == set(ran) and session["card"] == "cpu" and session["dry_run"]
    assert session["torch"] in md and session["date"] in md
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in md.splitlines() if line.startswith("| ")]
    for mode, figures in session["figures"]["sft_fast"]["modes"].items():
        assert ["sft_fast", mode, f"{figures['tokens_per_s']:.0f}"] in [row[:3] for row in rows]
    for r in records:
        assert [r["name"], r["status"], f"{r['estimate_s']:.0f}"] in [row[:3] for row in rows]
    assert set(session["figures"]["sft_fast"]["modes"]) == {"stock_padded", "all"}
    assert session["measured"] == {r["name"]: r["seconds"] for r in records if r["status"] == "ran"}


def test_without_torch_it_stops_at_once_with_one_line(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "python3").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "python3").chmod(0o755)
    proc = _run({"PATH": f"{fake_bin}:{os.environ['PATH']}", "OUT": str(tmp_path / "out")}, timeout=60)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "cannot import torch" in lines[0]
    assert "finished" not in lines[0] and "done" not in lines[0] and not (tmp_path / "out").exists()


def test_a_missing_wheel_is_named_in_one_line_and_its_stage_skipped(tmp_path: Path) -> None:
    broken = tmp_path / "site"
    broken.mkdir()
    (broken / "deepspeed.py").write_text("raise ImportError('not carried')\n")
    env = {"DRY_RUN": "1", "OUT": str(tmp_path / "out"), "STAGES": "zero2",
           "PYTHONPATH": f"{broken}:{REPO}"}
    proc = _run(env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [line for line in proc.stdout.splitlines() if "missing wheel(s)" in line] == [
        "[gpu_session] missing wheel(s): deepspeed (their stages are skipped; carry .whl filled by "
        "bash bench/gpu_wheels.sh)"]
    record = json.loads((tmp_path / "out" / "session.json").read_text())["stages"][0]
    assert record["status"] == "skipped" and record["reason"] == "missing wheel: deepspeed"


@pytest.mark.slow
def test_zero2_stage_dry_run_trains_through_deepspeed_and_evaluates(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run({"DRY_RUN": "1", "OUT": str(out), "STAGES": "zero2", "BUDGET_S": "900"}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[gpu_sft_stage] zero2: DeepSpeed optimizer state " in proc.stdout
    assert "--deepspeed scripts/zero2.json" in (out / "logs" / "zero2.log").read_text()
    figures = json.loads((out / "session.json").read_text())["figures"]["zero2"]
    assert figures["num_samples"] == 64 and figures["task"] == "grounding" and figures["final_loss"] > 0


def test_gpu_wheels_refuses_without_torch(tmp_path: Path) -> None:
    # A Python without torch cannot build DeepSpeed's wheel: one line, exit 2, nothing downloaded.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "python3").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "bench/gpu_wheels.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "torch does not import" in proc.stderr

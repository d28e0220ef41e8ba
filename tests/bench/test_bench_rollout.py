"""bench/bench_rollout.py: import-clean for the GPU image, and the CPU dry run times every setting and size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("mmengine", "deepspeed", "ray", "vllm")


def test_import_chain_is_light() -> None:
    code = (f"import sys, bench.bench_rollout; heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"bench_rollout imports {proc.stdout.strip()} {proc.stderr[-2000:]}"


@pytest.mark.slow
def test_dry_run_times_every_setting_and_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import bench_rollout

    out = tmp_path / "bench_rollout.json"
    assert bench_rollout.main(["--dry-run", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    settings = ("plain", "shared_prefill", "static", "static+compile")
    assert set(results["runs"]) == {f"{s}@{n}" for s in settings for n in (2, 4)}
    for run in results["runs"].values():
        # n=2 responses per prompt, sizes 2 and 4 sequences, up to 4 tokens each
        assert 0 < run["tokens"] <= run["sequences"] * 4 and run["tokens_per_s"] > 0
    assert "| static+compile | 4" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench_rollout.main(["--help"])

"""Crash tests: GRPO drivers (2 CPU Ray workers, test-size model) SIGKILLed after a checkpoint and mid-save,
and a worker failing mid-step. One Ray cluster for the module; every run is a separate driver process that
joins it through ``RAY_ADDRESS`` (so a killed driver's workers are reaped by Ray, as on a real cluster).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from verl.workers import checkpoint

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
REWARDS = REPO / "tests" / "verl" / "reward_fixtures.py"
STEPS = 3
RAY_HEAD = """
import signal, sys, ray
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
ray.init(num_cpus=2, include_dashboard=False, _temp_dir=sys.argv[1], logging_level="WARNING")
print(ray.get_runtime_context().gcs_address, flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
ray.shutdown()
"""


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A 2-CPU Ray head owned by a helper process (short temp dir: socket paths are length-limited)."""
    temp = tempfile.mkdtemp(prefix="rayk", dir="/tmp")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # drivers join without a token file
    head = subprocess.Popen([sys.executable, "-c", RAY_HEAD, temp], stdout=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)
    assert head.stdout is not None
    address = head.stdout.readline().strip()
    assert address, "the Ray head did not start"
    yield address
    head.terminate()
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait()
    shutil.rmtree(temp, ignore_errors=True)


class Run:
    """One GRPO driver process writing to ``root`` (log in ``root.log``)."""

    def __init__(self, ray_address: str, tiny_model: Path, data_config: Path, root: Path, max_steps: int = STEPS,
                 fault: str | None = None) -> None:
        self.root, self.log = root, root.with_suffix(".log")
        args = [
            f"config={REPO / 'verl/configs/config.yaml'}", f"data.config_path={data_config}",
            f"worker.actor.model.model_path={tiny_model}", f"worker.reward.reward_function={REWARDS}:varied_reward",
            "data.format_prompt=null", "data.num_workers=0", "data.rollout_batch_size=2",
            "data.max_response_length=8", "worker.actor.global_batch_size=2", "worker.rollout.n=2",
            "worker.actor.micro_batch_size_per_device_for_update=2",
            "worker.actor.micro_batch_size_per_device_for_experience=2", "worker.rollout.tensor_parallel_size=1",
            "worker.actor.optim.lr=1e-3", "trainer.n_gpus_per_node=2", "trainer.device=cpu",
            "trainer.logger=[console]", f"trainer.save_checkpoint_path={root}", "trainer.save_freq=1",
            f"trainer.max_steps={max_steps}",
        ]
        env = {**os.environ, "RAY_ADDRESS": ray_address, "RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}
        env.pop("VERL_FAULT_INJECT", None)
        if fault:
            env["VERL_FAULT_INJECT"] = fault
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "verl.trainer.main", *args], cwd=REPO, env=env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 240) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"driver still running after {timeout} s:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # the driver and anything it forked
        self.proc.wait()

    def wait_for(self, ready: Callable[[], bool], what: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                pytest.fail(f"driver exited ({self.proc.returncode}) before {what}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"no {what} after {timeout} s:\n{self.output()[-3000:]}")
            time.sleep(0.1)


def _latest(root: Path) -> int | None:
    marker = root / checkpoint.LATEST_FILE
    return int(marker.read_text()) if marker.is_file() else None


def _state(step_dir: Path, tmp: Path) -> dict[str, torch.Tensor]:
    """Model and optimizer tensors of a DCP checkpoint, flattened to ``model.x`` / ``optim.y`` keys."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    out = tmp / f"{step_dir.parent.name}_{step_dir.name}.pt"
    dcp_to_torch_save(step_dir / "actor" / "dcp", out)
    flat: dict[str, torch.Tensor] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        elif isinstance(value, torch.Tensor):
            flat[prefix] = value

    walk("", torch.load(out, weights_only=False))
    return flat


def _assert_same_checkpoint(a: Path, b: Path, tmp: Path) -> None:
    state_a, state_b = _state(a, tmp), _state(b, tmp)
    assert state_a.keys() == state_b.keys() and any(k.startswith(".optim") for k in state_a)
    different = [k for k in state_a if not torch.equal(state_a[k], state_b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    assert checkpoint.load_trainer_state(a) == checkpoint.load_trainer_state(b)


def _metrics(root: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (root / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row for row in rows}


@pytest.fixture(scope="module")
def reference(ray_address, tiny_model, data_config, tmp_path_factory) -> Path:
    """An uninterrupted run of STEPS steps, checkpointed after every step."""
    root = tmp_path_factory.mktemp("reference") / "ckpt"
    run = Run(ray_address, tiny_model, data_config, root)
    assert run.wait() == 0, run.output()[-3000:]
    assert _latest(root) == STEPS
    return root


def test_sigkill_after_checkpoint_resumes_identically(reference, ray_address, tiny_model, data_config, tmp_path):
    root = tmp_path / "ckpt"
    run = Run(ray_address, tiny_model, data_config, root)
    run.wait_for(lambda: _latest(root) is not None, "checkpoint marker")
    run.kill()
    killed_at = _latest(root)
    assert killed_at is not None and killed_at < STEPS
    resumed = Run(ray_address, tiny_model, data_config, root)
    assert resumed.wait() == 0, resumed.output()[-3000:]
    assert f"resumed from {root / f'global_step_{killed_at}'} at step {killed_at}" in resumed.output()
    _assert_same_checkpoint(reference / f"global_step_{STEPS}", root / f"global_step_{STEPS}", tmp_path)
    ref_rows, rows = _metrics(reference), _metrics(root)
    for step in range(killed_at + 1, STEPS + 1):
        assert rows[step]["reward/overall"] == ref_rows[step]["reward/overall"]
        assert rows[step]["actor/pg_loss"] == pytest.approx(ref_rows[step]["actor/pg_loss"], abs=1e-7)


def test_sigkill_during_save_keeps_previous_checkpoint(reference, ray_address, tiny_model, data_config, tmp_path):
    root, flag = tmp_path / "ckpt", tmp_path / "in_save"
    fault = f"point=save_actor,action=sleep,seconds=600,rank=0,call=2,flag={flag}"  # rank 0, second save
    run = Run(ray_address, tiny_model, data_config, root, fault=fault)
    run.wait_for(flag.exists, "second checkpoint save")
    run.kill()
    assert _latest(root) == 1  # the marker still names the last complete checkpoint
    assert (root / "global_step_2" / "actor" / "dcp").is_dir()  # half-written
    assert not (root / "global_step_2" / "trainer_state.json").exists()
    assert checkpoint.find_latest_checkpoint(root) == root / "global_step_1"
    resumed = Run(ray_address, tiny_model, data_config, root, max_steps=2)
    assert resumed.wait() == 0, resumed.output()[-3000:]
    assert f"resumed from {root / 'global_step_1'} at step 1" in resumed.output()
    assert _latest(root) == 2
    _assert_same_checkpoint(reference / "global_step_2", root / "global_step_2", tmp_path)


def test_worker_failure_stops_the_driver(ray_address, tiny_model, data_config, tmp_path):
    root, flag = tmp_path / "ckpt", tmp_path / "fault"
    run = Run(ray_address, tiny_model, data_config, root, fault=f"point=update_actor,action=raise,rank=1,flag={flag}")
    run.wait_for(flag.exists, "the injected fault")
    start = time.monotonic()
    code = run.wait(timeout=60)  # rank 0 is stuck in a collective with the dead rank: must not hang
    assert code != 0
    assert time.monotonic() - start < 60
    assert "fault injection at update_actor (rank 1" in run.output()
    assert _latest(root) is None

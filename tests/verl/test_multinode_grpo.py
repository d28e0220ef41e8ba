"""GRPO on a real two-node Ray cluster on this machine: a head for the driver (no CPU) and two worker nodes
(``ray start`` with their own temp dirs, node IPs 127.0.0.2 and 127.0.0.3, one CPU each), one worker each.

Which rank ran on which node is read from each node's own worker logs, not from the driver. Checked: the two
ranks on different nodes, the rendezvous at rank 0's node, checkpoints, resume, the merge tool, the gradient
over the two nodes against one process (``test_actor_dp``'s batch), and a node lost mid-run (one line naming
it, within a bounded time; checkpoints intact; the same command resumes once the node is back).
This file doubles as the gradient driver (``python test_multinode_grpo.py WORK_DIR MODEL``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from tests.tolerances import GRAD_TOL
from verl.single_controller.worker_group import free_port
from verl.workers import checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.multinode]

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REWARDS = HERE / "reward_fixtures.py"
NODE_IPS = ("127.0.0.2", "127.0.0.3")
LOST_WITHIN_S = 150  # Ray notices a dead node (health checks), then the group stops (SHUTDOWN_TIMEOUT_S)


def _env() -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": str(REPO)}


class Cluster:
    """A head and two worker nodes, each its own ``ray start --block`` process group and temp dir."""

    def __init__(self) -> None:
        self.dirs: list[str] = []
        self.procs: list[subprocess.Popen | None] = [None, None, None]
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self._start(0, ["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false"])
        for i in (1, 2):
            self.start_node(i)

    def _start(self, i: int, args: list[str]) -> None:
        temp = tempfile.mkdtemp(prefix=f"ray{i}", dir="/tmp")  # short: socket paths are length-limited
        self.dirs.append(temp)
        log = open(Path(temp) / "start.log", "w")  # noqa: SIM115 (lives as long as the node)
        self.procs[i] = subprocess.Popen(["ray", "start", "--block", f"--temp-dir={temp}", *args], env=_env(),
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in (Path(temp) / "start.log").read_text(errors="replace"):
            assert self.procs[i].poll() is None and time.monotonic() < deadline, (Path(temp) / "start.log").read_text()
            time.sleep(0.5)
        self.node_dirs = getattr(self, "node_dirs", {}) | ({i: temp} if i else {})

    def start_node(self, i: int) -> None:
        self._start(i, [f"--address={self.address}", f"--node-ip-address={NODE_IPS[i - 1]}", "--num-cpus=1"])

    def kill_node(self, i: int) -> None:
        """SIGKILL the node's raylet, its workers and everything else it started."""
        proc = self.procs[i]
        assert proc is not None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def ranks_on_node(self, i: int) -> set[int]:
        """Ranks whose FSDP worker logged on node ``i`` (its own session logs)."""
        ranks: set[int] = set()
        for log in Path(self.node_dirs[i]).glob("session_*/logs/worker-*"):
            ranks.update(int(r) for r in re.findall(r"\[rank (\d+)\]", log.read_text(errors="replace")))
        return ranks

    def shutdown(self) -> None:
        for proc in reversed(self.procs):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        for temp in self.dirs:
            shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    yield c
    c.shutdown()


def _grpo(cluster: Cluster, tiny_model: Path, data_config: Path, root: Path, steps: int) -> subprocess.Popen:
    args = [f"config={REPO / 'verl/configs/config.yaml'}", f"data.config_path={data_config}",
            f"worker.actor.model.model_path={tiny_model}", f"worker.reward.reward_function={REWARDS}:varied_reward",
            "data.format_prompt=null", "data.num_workers=0", "data.rollout_batch_size=2",
            "data.max_response_length=8", "worker.actor.global_batch_size=2", "worker.rollout.n=2",
            "worker.actor.micro_batch_size_per_device_for_update=2",
            "worker.actor.micro_batch_size_per_device_for_experience=2", "worker.actor.optim.lr=1e-3",
            "trainer.nnodes=2", "trainer.n_gpus_per_node=1", "trainer.device=cpu", "trainer.logger=[console]",
            f"trainer.save_checkpoint_path={root}", "trainer.save_freq=1", f"trainer.max_steps={steps}"]
    log = open(root.with_suffix(".log"), "a")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "verl.trainer.main", *args], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, env={**_env(), "RAY_ADDRESS": cluster.address},
                            start_new_session=True)


def _wait(proc: subprocess.Popen, root: Path, timeout: float = 300) -> tuple[int, str]:
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"driver still running after {timeout} s:\n{root.with_suffix('.log').read_text()[-3000:]}")
    return code, root.with_suffix(".log").read_text(errors="replace")


def _latest(root: Path) -> int | None:
    marker = root / checkpoint.LATEST_FILE
    return int(marker.read_text()) if marker.is_file() else None


def test_grpo_on_two_nodes_checkpoints_resumes_and_merges(cluster, tiny_model, data_config, tmp_path):
    root = tmp_path / "ckpt"
    code, log = _wait(_grpo(cluster, tiny_model, data_config, root, steps=2), root)
    assert code == 0, log[-3000:]
    # Each node's own worker logs: one rank each, on different nodes.
    assert {frozenset(cluster.ranks_on_node(1)), frozenset(cluster.ranks_on_node(2))} == {
        frozenset({0}), frozenset({1})}
    rank0_ip = NODE_IPS[0] if 0 in cluster.ranks_on_node(1) else NODE_IPS[1]
    assert re.search(rf"process-group rendezvous at {re.escape(rank0_ip)}:\d+ \(rank 0's node\)", log), log[-3000:]
    assert _latest(root) == 2 and all((root / f"global_step_{s}" / "actor" / "dcp").is_dir() for s in (1, 2))
    # The same command with one more step resumes from step 2 on both nodes.
    code, log = _wait(_grpo(cluster, tiny_model, data_config, root, steps=3), root)
    assert code == 0 and f"resumed from {root / 'global_step_2'} at step 2" in log, log[-3000:]
    assert _latest(root) == 3
    merged = tmp_path / "merged"
    proc = subprocess.run([sys.executable, "tools/merge_rl_checkpoints_to_hg_version.py", "--local_dir",
                           str(root / "global_step_3" / "actor"), "--output_dir", str(merged)], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(merged)
    original = AutoModelForImageTextToText.from_pretrained(tiny_model)
    changed = [n for n, p in model.state_dict().items() if not torch.equal(p, original.state_dict()[n])]
    assert changed, "the merged weights equal the initial model: no update reached the checkpoint"


def test_gradient_over_two_nodes_equals_one_process(cluster, tiny_model, tmp_path):
    from tests.verl.test_actor_dp import _load_model, _make_batch, _one_process_gradient

    torch.manual_seed(0)
    batch = _make_batch(_load_model(str(tiny_model)))
    torch.save(batch, tmp_path / "batch.pt")
    subprocess.run([sys.executable, __file__, str(tmp_path), str(tiny_model)], check=True, timeout=300,
                   env={**_env(), "RAY_ADDRESS": cluster.address})
    result = torch.load(tmp_path / "grads_2nodes.pt")
    assert len(set(result["nodes"])) == 2, result["nodes"]
    expected = _one_process_gradient(_load_model(str(tiny_model)), "token-mean", batch)
    assert set(result["grads"]) == set(expected) and len(expected) > 10
    for name, grad in expected.items():
        torch.testing.assert_close(result["grads"][name], grad, **GRAD_TOL)  # tests/tolerances.py


def test_a_lost_node_stops_the_run_in_one_line_and_the_rerun_resumes(cluster, tiny_model, data_config, tmp_path):
    root = tmp_path / "ckpt"
    proc = _grpo(cluster, tiny_model, data_config, root, steps=3)
    deadline = time.monotonic() + 300
    while _latest(root) is None:
        assert proc.poll() is None and time.monotonic() < deadline, root.with_suffix(".log").read_text()[-3000:]
        time.sleep(0.2)
    cluster.kill_node(2)
    killed_at, kept = time.monotonic(), _latest(root)
    code, log = _wait(proc, root, timeout=LOST_WITHIN_S + 60)
    assert code == 1 and time.monotonic() - killed_at < LOST_WITHIN_S, log[-3000:]
    lost = [line for line in log.splitlines() if line.startswith("error: rank ")]
    assert len(lost) == 1 and " was lost " in lost[0] and "rerun the same command" in lost[0], log[-3000:]
    assert NODE_IPS[1] in lost[0] or "node" in lost[0].lower()
    latest = _latest(root)
    assert latest is not None and latest >= kept and (root / f"global_step_{latest}" / "trainer_state.json").exists()
    cluster.start_node(2)
    code, log = _wait(_grpo(cluster, tiny_model, data_config, root, steps=3), root)
    assert code == 0 and f"resumed from {root / f'global_step_{latest}'} at step {latest}" in log, log[-3000:]
    assert _latest(root) == 3


# ------------------------------------------------------------------------------- the gradient driver


class GradWorker:
    """One rank of the gradient check: FSDP2 over gloo, half of the batch, gradients of one update."""

    def __init__(self, work_dir: str, model_path: str, rank: int, world_size: int) -> None:
        self.work_dir, self.model_path, self.rank, self.world_size = work_dir, model_path, rank, world_size

    def node_address(self) -> tuple[str, int]:
        from verl.single_controller.worker_group import node_address

        return node_address()

    def gradients(self, master_addr: str, master_port: int) -> tuple[str, dict[str, torch.Tensor]]:
        import ray
        import torch.distributed as dist

        from tests.verl.test_actor_dp import _actor_config, _gradients, _load_model
        from verl.trainer.config import FSDPConfig
        from verl.workers import fsdp
        from verl.workers.actor import Actor

        mesh = fsdp.init_process_group(self.rank, self.world_size, master_addr, master_port, "cpu")
        model = fsdp.shard_model(_load_model(self.model_path), mesh, FSDPConfig(), "cpu")
        batch = torch.load(Path(self.work_dir) / "batch.pt", weights_only=False)
        half = batch[self.rank * 4:(self.rank + 1) * 4]
        Actor(model, _actor_config("token-mean"), "cpu", dp_group=mesh.get_group()).backward_mini_batch(half, 1.0)
        grads = _gradients(model)  # collective
        dist.destroy_process_group()
        return ray.get_runtime_context().get_node_id(), grads

    def shutdown(self) -> None:
        pass


if __name__ == "__main__":
    import ray

    from verl.single_controller.worker_group import RayWorkerGroup

    ray.init(address=os.environ["RAY_ADDRESS"])
    group = RayWorkerGroup(GradWorker, sys.argv[1], sys.argv[2], nnodes=2, per_node=1, use_gpu=False)
    address, port = group.master_address()
    results = group.call_all("gradients", address, port)
    torch.save({"nodes": [node for node, _ in results], "grads": results[0][1]},
               Path(sys.argv[1]) / "grads_2nodes.pt")
    group.shutdown()
    ray.shutdown()

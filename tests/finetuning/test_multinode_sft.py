"""SFT over two torchrun "nodes" on this machine, launched through ``scripts/sft.sh`` as a user would run it
on two machines (``NNODES=2 NODE_RANK=0|1 MASTER_ADDR MASTER_PORT``, one CPU process each, gloo), plain and
with DeepSpeed ZeRO-2: the same logged loss at every step and the same final weights as one node with two
processes (``NPROC_PER_NODE=2``), both ranks counted in the batch, and only rank 0 (node 0) writing the
shared output folder. The runs of one case go concurrently (two nodes and the one-node reference).

A node lost mid-run: every process of node 1 is killed after the first checkpoint; node 0 stops within a
bounded time with one ``error:`` line naming the lost peer and the last complete checkpoint, which is intact,
and the same two commands again resume from it and finish.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = [pytest.mark.slow, pytest.mark.multinode]

REPO = Path(__file__).resolve().parents[2]
STEPS, BATCH, TRAIN_SAMPLES = 4, 2, 32  # the toy_dir fixture's train split has 32 images
RUN_TIMEOUT_S = 300
SAVED_LINE = "finetuning.checkpoint: saved the final model to"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(config: Path, model: Path, output_dir: Path, log: Path, **variables: str) -> subprocess.Popen:
    """Start ``bash scripts/sft.sh`` on the CPU (no GPU, fp32, a few steps of the test model) with
    ``variables`` added to its environment; stdout and stderr go to ``log``."""
    launcher_vars = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    env = {k: v for k, v in os.environ.items() if k not in launcher_vars}
    env.update({"REX_SKIP_INSTALL": "1", "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore::FutureWarning",
                "OMP_NUM_THREADS": "1", "GPUS_PER_NODE": "0", "MODEL_PATH": str(model), "CONFIG": str(config),
                "OUTPUT_DIR": str(output_dir), "MAX_STEPS": str(STEPS), "BATCH_SIZE": str(BATCH), "SAVE_STEPS": "2",
                "LR": "1e-3", "MM_PROJECTOR_LR": "1e-3", "VISION_TOWER_LR": "1e-3", "NUM_WORKERS": "0",
                "REPORT_TO": "none", "EVAL": "0", **variables})
    return subprocess.Popen(["bash", "scripts/sft.sh", "--disable_tqdm", "True"], cwd=REPO, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def wait(proc: subprocess.Popen, log: Path, timeout: float = RUN_TIMEOUT_S, expect: int = 0) -> str:
    """Wait for ``proc`` and check its exit code (past ``timeout`` it and its children are killed and the test
    fails); returns its log."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.wait()
        pytest.fail(f"{log.name}: still running after {timeout} s:\n{log.read_text(errors='replace')[-4000:]}")
    text = log.read_text(errors="replace")
    assert proc.returncode == expect, f"{log.name} exited {proc.returncode}:\n{text[-4000:]}"
    return text


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants (torchrun starts its workers in sessions of their own, so
    killing the launcher's process group would leave them running)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def logged_losses(output_dir: Path) -> list[float]:
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


@pytest.mark.parametrize("deepspeed", ["", "scripts/zero2.json"], ids=["plain", "zero2"])
def test_two_nodes_train_as_one_node_with_two_processes(
    tiny_config: Path, tiny_model_dir: Path, tmp_path: Path, deepspeed: str
) -> None:
    two_nodes, one_node = tmp_path / "two_nodes", tmp_path / "one_node"
    port = str(free_port())
    logs = [tmp_path / "node0.log", tmp_path / "node1.log", tmp_path / "one_node.log"]
    nodes = [launch(tiny_config, tiny_model_dir, two_nodes, logs[rank], DEEPSPEED=deepspeed, NNODES="2",
                    NODE_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=port, NPROC_PER_NODE="1")
             for rank in (1, 0)][::-1]
    reference = launch(tiny_config, tiny_model_dir, one_node, logs[2], DEEPSPEED=deepspeed,
                       NPROC_PER_NODE="2", MASTER_PORT=str(free_port()))
    node0, node1 = wait(nodes[0], logs[0]), wait(nodes[1], logs[1])
    wait(reference, logs[2])

    # Both ranks in every step's batch: 4 steps x 2 ranks x 2 samples = 16 of 32 samples, epoch 0.5 (ranks that
    # each trained alone read 0.25).
    for folder in (two_nodes, one_node):
        assert json.loads((folder / "trainer_state.json").read_text())["epoch"] == pytest.approx(
            STEPS * 2 * BATCH / TRAIN_SAMPLES)
    # One shared output folder: rank 0 (node 0) writes the final model, node 1 nothing.
    assert SAVED_LINE in node0 and SAVED_LINE not in node1
    # Each rank's own files in the shared checkpoint: node 1's rank wrote its RNG state (and ZeRO shard) there.
    checkpoint = two_nodes / "checkpoint-2"
    assert {"trainer_state.json", "rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in checkpoint.iterdir()}
    if deepspeed:
        assert {p.name for p in (checkpoint / "global_step2").glob("zero_pp_rank_*_optim_states.pt")} == {
            "zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"}

    # Exactly equal: each rank computes the same thing on the same shapes in both set-ups, and a sum of two
    # ranks' terms is the same in either order (tests/tolerances.py: a repeated computation has no rounding
    # difference on a CPU). A wrong split (a rank alone, another world size) moves losses by 1e-3 or more.
    losses = logged_losses(two_nodes)
    assert len(losses) == STEPS and losses == logged_losses(one_node)
    trained, expected = load_file(two_nodes / "model.safetensors"), load_file(one_node / "model.safetensors")
    initial = load_file(tiny_model_dir / "model.safetensors")
    assert set(trained) == set(expected)
    assert [name for name, tensor in expected.items() if not torch.equal(trained[name], tensor)] == []
    assert any(not torch.equal(trained[name], initial[name]) for name in initial), "no update was saved"


LOST_WITHIN_S = 120  # measured about 10 s: gloo sees the peer's sockets reset at the next collective


def test_a_lost_node_stops_node0_in_one_line_and_the_rerun_resumes(
    tiny_config: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out, steps = tmp_path / "out", 20
    node_vars = dict(NNODES="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), NPROC_PER_NODE="1",
                     MAX_STEPS=str(steps))

    def start_nodes(attempt: str) -> tuple[list[subprocess.Popen], list[Path]]:
        logs = [tmp_path / f"{attempt}_node{rank}.log" for rank in (0, 1)]
        procs = [launch(tiny_config, tiny_model_dir, out, logs[rank], NODE_RANK=str(rank), **node_vars)
                 for rank in (1, 0)][::-1]
        return procs, logs

    procs, logs = start_nodes("first")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not list(out.glob("checkpoint-*/trainer_state.json")):
        assert procs[0].poll() is None and time.monotonic() < deadline, logs[0].read_text(errors="replace")[-4000:]
        time.sleep(0.1)
    kill_tree(procs[1].pid)
    killed_at = time.monotonic()
    saved_before_kill = max(int(p.parent.name.split("-")[1]) for p in out.glob("checkpoint-*/trainer_state.json"))
    log = wait(procs[0], logs[0], timeout=LOST_WITHIN_S, expect=1)
    assert time.monotonic() - killed_at < LOST_WITHIN_S
    procs[1].wait()

    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, log[-4000:]
    assert errors[0].startswith("error: rank 0 (node 0) lost the rank at 127.0.0.1 ("), errors[0]
    assert "rerun the same command on every node to resume from it" in errors[0]
    kept = Path(errors[0].split("the last complete checkpoint is ")[1].split(";")[0])
    assert kept.parent == out and int(kept.name.split("-")[1]) >= saved_before_kill
    state = json.loads((kept / "trainer_state.json").read_text())
    assert state["global_step"] == int(kept.name.split("-")[1]) < steps
    initial = load_file(tiny_model_dir / "model.safetensors")
    assert set(load_file(kept / "model.safetensors")) >= set(initial)  # the weights file reads whole

    procs, logs = start_nodes("rerun")
    log = wait(procs[0], logs[0])
    wait(procs[1], logs[1])
    assert f"resuming from {kept}" in log, log[-4000:]
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == steps

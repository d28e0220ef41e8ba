"""SFT over two torchrun "nodes" on this machine, launched through ``scripts/sft.sh`` as a user would run it
on two machines (``NNODES=2 NODE_RANK=0|1 MASTER_ADDR MASTER_PORT``, one CPU process each, gloo), plain and
with DeepSpeed ZeRO-2: the same logged loss at every step and the same final weights as one node with two
processes (``NPROC_PER_NODE=2``), both ranks counted in the batch, and only rank 0 (node 0) writing the
shared output folder.

The runs of one case go concurrently (two nodes and the one-node reference): 3 processes on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = [pytest.mark.slow, pytest.mark.multinode]

REPO = Path(__file__).resolve().parents[2]
STEPS, BATCH, TRAIN_SAMPLES = 4, 2, 32  # the toy_dir fixture's train split has 32 images
RUN_TIMEOUT_S = 400
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
    env.update(REX_SKIP_INSTALL="1", PYTHONPATH=str(REPO), PYTHONWARNINGS="ignore::FutureWarning",
               OMP_NUM_THREADS="1", GPUS_PER_NODE="0", MODEL_PATH=str(model), CONFIG=str(config),
               OUTPUT_DIR=str(output_dir), MAX_STEPS=str(STEPS), BATCH_SIZE=str(BATCH), SAVE_STEPS="2",
               LR="1e-3", MM_PROJECTOR_LR="1e-3", VISION_TOWER_LR="1e-3", NUM_WORKERS="0", REPORT_TO="none",
               EVAL="0", **variables)
    return subprocess.Popen(["bash", "scripts/sft.sh", "--disable_tqdm", "True"], cwd=REPO, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def wait(proc: subprocess.Popen, log: Path, timeout: float = RUN_TIMEOUT_S) -> str:
    """Wait for ``proc`` (its whole process group is killed past ``timeout``); returns its log."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, f"{log.name} exited {proc.returncode}:\n{text[-4000:]}"
    return text


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
    assert (two_nodes / "checkpoint-2" / "trainer_state.json").is_file()

    losses = logged_losses(two_nodes)
    assert len(losses) == STEPS
    torch.testing.assert_close(losses, logged_losses(one_node), rtol=1e-6, atol=1e-6)
    trained, expected = load_file(two_nodes / "model.safetensors"), load_file(one_node / "model.safetensors")
    initial = load_file(tiny_model_dir / "model.safetensors")
    assert set(trained) == set(expected)
    for name, tensor in expected.items():
        torch.testing.assert_close(trained[name], tensor, rtol=1e-6, atol=1e-7, msg=name)
    assert any(not torch.equal(trained[name], initial[name]) for name in initial), "no update was saved"

"""finetuning/lost_rank.py: a lost peer's gloo error becomes one line naming the peer and the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from torch.distributed import DistNetworkError

from finetuning.lost_rank import lost_rank_line

# The message gloo raised in tests/finetuning/test_multinode_sft.py when node 1 was killed.
GLOO_RESET = ("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [10.0.0.2]:21167: "
              "Connection reset by peer. This is typically caused by a remote worker hanging or bugs in the "
              "application.")


def test_a_reset_peer_names_its_address_and_the_last_complete_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    (tmp_path / "checkpoint-6").mkdir()  # its save was cut off: no trainer_state.json
    line = lost_rank_line(RuntimeError(GLOO_RESET), "1", "1", tmp_path)
    assert line == (f"error: rank 1 (node 1) lost the rank at 10.0.0.2 (Connection reset by peer): its node or "
                    f"process is gone; training stopped; the last complete checkpoint is {tmp_path / 'checkpoint-4'}; "
                    "rerun the same command on every node to resume from it")


def test_before_any_checkpoint_the_line_says_the_rerun_starts_again(tmp_path: Path) -> None:
    error = DistNetworkError("Connection closed by peer [127.0.0.1]:5")
    line = lost_rank_line(error, "0", "0", tmp_path / "none")
    assert line is not None and line.endswith("no checkpoint was saved yet; rerun the same command on every node "
                                              "to start again")


def test_other_errors_are_left_alone(tmp_path: Path) -> None:
    assert lost_rank_line(RuntimeError("CUDA out of memory"), "0", "0", tmp_path) is None
    # The same words outside torch.distributed (a data loader's pipe) are not a lost node.
    assert lost_rank_line(RuntimeError("Broken pipe [127.0.0.1]:80"), "0", "0", tmp_path) is None

"""A rank that lost its peers (a node died or dropped off the network): one line instead of a traceback.

Gloo (the CPU backend) raises when a peer's connection is reset or closed, or a collective times out; the
message names the peer's address. :func:`lost_rank_line` turns such an error into the line a user acts on:
who stopped, which peer was lost, the last complete checkpoint, and that rerunning the same command on every
node resumes from it. Any other error is not ours to describe (``None``): only gloo's errors and
``torch.distributed``'s own count, so a broken pipe elsewhere (a data loader) is not taken for a lost node.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch.distributed

from finetuning.checkpoint import last_complete_checkpoint

# Gloo's wording for a peer that went away (pair.cc read/write errors, closed sockets, timeouts).
LOST_PEER_PATTERNS = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "Socket closed",
                      "Timed out waiting", "Connection refused")
PEER_ADDRESS = re.compile(r"\[([0-9A-Za-z.:%-]+)\]:\d+")


def lost_rank_line(error: BaseException, rank: str, node: str, output_dir: str | Path) -> str | None:
    """The one-line report of ``error`` when it says a peer was lost, else ``None``.

    ``rank``/``node``: this process's global rank and node rank (torchrun's ``RANK``/``GROUP_RANK``).
    """
    message = str(error)
    if "gloo" not in message and not isinstance(error, torch.distributed.DistError):
        return None
    reason = next((pattern for pattern in LOST_PEER_PATTERNS if pattern in message), None)
    if reason is None:
        return None
    address = PEER_ADDRESS.search(message)
    peer = f"the rank at {address.group(1)}" if address else "another rank"
    folder = Path(output_dir)
    checkpoint = last_complete_checkpoint(folder) if folder.is_dir() else None
    resume = (f"the last complete checkpoint is {checkpoint}; rerun the same command on every node to resume "
              "from it" if checkpoint else "no checkpoint was saved yet; rerun the same command on every node "
              "to start again")
    return (f"error: rank {rank} (node {node}) lost {peer} ({reason}): its node or process is gone; "
            f"training stopped; {resume}")

"""Worker groups: N ranks of a worker class, driven by one controller.

``dispatch(method, batch)`` chunks a :class:`~verl.protocol.Batch` by rank, calls ``method`` on every rank
in parallel and concatenates the results (data-parallel compute); ``call_all(method, ...)`` calls every
rank with the same arguments (collectives such as ``init_model`` and checkpoints). The driver calls the
worker methods registered with ``@register(Dispatch...)`` as attributes of the group
(``group.generate_sequences(batch)``), which use these two transports (:mod:`verl.single_controller.dispatch`).

``RayWorkerGroup`` places ``nnodes x n_gpus_per_node`` Ray actors in one placement group (one GPU each, or
one CPU each with gloo when there is no GPU): on one node, one bundle per rank packed together; on several,
one bundle per node (``STRICT_SPREAD``: every bundle on a different Ray node) holding that node's
consecutive ranks. The rendezvous address is rank 0's node as Ray knows it (:func:`node_address`). ``LocalWorkerGroup`` runs a single rank in this process
(tests, debugging).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from typing import Any, Protocol

from verl.protocol import Batch
from verl.single_controller.dispatch import DispatchedGroup

__all__ = ["LocalWorkerGroup", "RayWorkerGroup", "WorkerGroup", "WorkerLost", "init_ray", "shutdown_ray"]

logger = logging.getLogger(__name__)

WORKER_ENV = {
    "TOKENIZERS_PARALLELISM": "true", "NCCL_DEBUG": "WARN", "VLLM_LOGGING_LEVEL": "WARN",
    "TORCH_NCCL_AVOID_RECORD_STREAMS": "1", "PYTHONUNBUFFERED": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
}
# Driver variables forwarded to the workers when set (reward debug log, fault hooks of the crash tests).
FORWARDED_ENV = ("DEBUG_MODE", "LOG_PATH", "VERL_FAULT_INJECT")
SHUTDOWN_TIMEOUT_S = 20.0
PLACEMENT_TIMEOUT_S = 300.0  # waiting for the nodes a placement group needs
_RAY_TEMP_DIRS: list[str] = []


def worker_env() -> dict[str, str]:
    """Environment of every Ray worker: ``WORKER_ENV`` plus the forwarded driver variables."""
    env = dict(WORKER_ENV)
    env.update({name: os.environ[name] for name in FORWARDED_ENV if name in os.environ})
    return env


class WorkerLost(RuntimeError):
    """A rank's Ray actor died: its worker process or its node is gone (the message names which)."""


LOST_PEER_GRACE_S = 60.0  # how long a broken collective waits for the dead peer to show (Ray's health checks)
# What gloo and NCCL say when a collective's peer process or node is gone (the strings in torch's gloo and NCCL
# code and in libnccl: "Connection closed by peer", "Connection closed by remote peer", "remote process exited or
# there was a network error", "Remote process error", "NCCL communicator was aborted on rank N").
PEER_GONE_MARKERS = ("connection closed by peer", "closed by remote peer", "connection reset by peer", "broken pipe",
                     "remote process exited", "remote process error", "communicator was aborted")


def peer_gone(text: str) -> bool:
    """True when an error's ``text`` is gloo's or NCCL's word for a collective whose peer is gone."""
    lowered = text.lower()
    return any(marker in lowered for marker in PEER_GONE_MARKERS)


def get_all(refs: list[Any], grace_s: float = LOST_PEER_GRACE_S) -> list[Any]:
    """``ray.get`` that fails fast: the first rank to fail raises at once, even while others still run.

    (A plain ``ray.get(list)`` waits in list order, so a rank blocked in a collective with a dead peer
    would hide the dead rank's error.) A dead rank raises :class:`WorkerLost`. When a peer's node dies
    mid-collective, the live ranks' collectives fail too ("connection closed by peer"), sometimes before Ray
    reports the dead actor: such an error (one of ``PEER_GONE_MARKERS``) waits up to ``grace_s`` for another
    rank to turn out dead, and raises that rank's :class:`WorkerLost` if one does. Any other error of a live
    rank is raised at once.
    """
    import ray

    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        try:
            ray.get(ready)
        except ray.exceptions.RayActorError as exc:  # its process or its whole node is gone
            raise _worker_lost(refs, ready[0], exc) from exc
        except ray.exceptions.RayTaskError as exc:
            if not peer_gone(str(exc)):
                raise
            lost = _first_lost(refs, pending, grace_s)
            if lost is not None:
                raise lost from exc
            raise
    return ray.get(refs)


def _worker_lost(refs: list[Any], ref: Any, exc: Exception) -> WorkerLost:
    reason = next((line.strip() for line in str(exc).splitlines() if "node" in line.lower()),
                  str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    return WorkerLost(f"rank {refs.index(ref)} was lost ({type(exc).__name__}): {reason}")


def _first_lost(refs: list[Any], pending: list[Any], grace_s: float) -> WorkerLost | None:
    """The first of ``pending`` whose actor turns out dead within ``grace_s`` seconds, as a WorkerLost."""
    import ray

    deadline = time.monotonic() + grace_s
    while pending and time.monotonic() < deadline:
        ready, pending = ray.wait(pending, num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
        for ref in ready:
            try:
                ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                return _worker_lost(refs, ref, exc)
            except Exception:  # another live rank's own error (a collective with the dead peer, say)
                continue
    return None


def _rank_nodes(group: Any, bundle_of_rank: list[int]) -> list[str]:
    """``"<ip> (<node id prefix>)"`` of the Ray node holding each rank's bundle."""
    import ray
    from ray.util.placement_group import placement_group_table

    ips = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}
    node_of_bundle = placement_group_table(group)["bundles_to_node_id"]
    return [f"{ips.get(node_of_bundle[b], '?')} ({node_of_bundle[b][:8]})" for b in bundle_of_rank]


class WorkerGroup(Protocol):
    world_size: int

    def call_all(self, method: str, *args: Any, **kwargs: Any) -> list[Any]: ...

    def dispatch(self, method: str, batch: Batch) -> Batch: ...

    def shutdown(self) -> None: ...


def _concat_chunks(results: list[Any], pad: int, total: int) -> Any:
    if isinstance(results[0], Batch):
        out = Batch.concat(results)
        return out[: len(out) - pad] if pad else out
    return results


class LocalWorkerGroup(DispatchedGroup):
    """One in-process rank (world size 1); same interface as :class:`RayWorkerGroup`."""

    def __init__(self, worker_cls: Callable[..., Any], *args: Any) -> None:
        self.world_size = 1
        self.workers = [worker_cls(*args, rank=0, world_size=1)]
        self._bind_methods(worker_cls)  # type: ignore[arg-type]

    def call_all(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        return [getattr(self.workers[0], method)(*args, **kwargs)]

    def dispatch(self, method: str, batch: Batch) -> Any:
        return getattr(self.workers[0], method)(batch)

    def master_address(self) -> tuple[str, int]:
        return "127.0.0.1", free_port()

    def shutdown(self) -> None:
        self.workers[0].shutdown()


def placement(nnodes: int, per_node: int, use_gpu: bool) -> tuple[list[dict[str, int]], str, list[int]]:
    """``(bundles, strategy, bundle index of each rank)``: one bundle per rank (``PACK``) on one node; one
    bundle of ``per_node`` CPUs (and GPUs) per node, on distinct nodes (``STRICT_SPREAD``), for several."""
    if nnodes == 1:
        return [{"CPU": 1, "GPU": 1} if use_gpu else {"CPU": 1} for _ in range(per_node)], "PACK", list(range(per_node))
    bundle = {"CPU": per_node, "GPU": per_node} if use_gpu else {"CPU": per_node}
    return [dict(bundle) for _ in range(nnodes)], "STRICT_SPREAD", [r // per_node for r in range(nnodes * per_node)]


def node_address() -> tuple[str, int]:
    """This process's node IP (the one Ray registered it under, inside a Ray worker) and a free TCP port:
    a worker asks it of rank 0 for the process-group rendezvous."""
    import ray

    if ray.is_initialized():
        address = ray.util.get_node_ip_address()
    else:
        try:
            address = socket.gethostbyname(socket.gethostname())
        except OSError:
            address = "127.0.0.1"
    return address, free_port()


class RayWorkerGroup(DispatchedGroup):
    """``nnodes * per_node`` Ray actors of ``worker_cls(*args, rank=, world_size=)`` (see :func:`placement`)."""

    def __init__(self, worker_cls: type, *args: Any, nnodes: int, per_node: int, use_gpu: bool) -> None:
        self._bind_methods(worker_cls)  # the registered worker methods become attributes of this group
        import ray
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        self.world_size = nnodes * per_node
        bundles, strategy, bundle_of_rank = placement(nnodes, per_node, use_gpu)
        self.placement_group = placement_group(bundles, strategy=strategy)
        if not self.placement_group.wait(PLACEMENT_TIMEOUT_S):
            live = sum(n["Alive"] for n in ray.nodes())
            raise RuntimeError(f"Ray could not place {nnodes} node(s) x {per_node} worker(s) ({strategy} of {bundles}) "
                               f"within {PLACEMENT_TIMEOUT_S:.0f} s: the cluster has {live} live node(s) and "
                               f"{ray.cluster_resources()}")
        remote_cls = ray.remote(worker_cls)
        self.workers = [
            remote_cls.options(
                num_cpus=1, num_gpus=1 if use_gpu else 0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(self.placement_group,
                                                                     placement_group_bundle_index=bundle_of_rank[i]),
                runtime_env={"env_vars": worker_env()},
            ).remote(*args, rank=i, world_size=self.world_size)
            for i in range(self.world_size)
        ]
        self.nodes = _rank_nodes(self.placement_group, bundle_of_rank)
        logger.info("worker placement (%s): %s", strategy, ", ".join(f"rank {r} on Ray node {n}"
                                                                      for r, n in enumerate(self.nodes)))

    def master_address(self) -> tuple[str, int]:
        """Rank 0's node IP and a free port there: the process group's rendezvous."""
        import ray

        address, port = ray.get(self.workers[0].node_address.remote())
        logger.info("process-group rendezvous at %s:%d (rank 0's node)", address, port)
        return address, port

    def call_all(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        return get_all([getattr(w, method).remote(*args, **kwargs) for w in self.workers])

    def dispatch(self, method: str, batch: Batch) -> Any:
        """Chunk by rank (padding the tail with repeated rows when needed), run, concatenate, unpad."""
        chunks, pad = batch.chunk(self.world_size, pad=True)
        results = get_all([getattr(w, method).remote(c) for w, c in zip(self.workers, chunks)])
        return _concat_chunks(results, pad, len(batch))

    def shutdown(self) -> None:
        """Ask every rank to leave its process group, then kill the actors (bounded: a rank stuck in a
        collective with a dead peer never returns, so the wait has a timeout)."""
        import ray
        from ray.util.placement_group import remove_placement_group

        try:
            refs = [w.shutdown.remote() for w in self.workers]
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=SHUTDOWN_TIMEOUT_S)
            if len(ready) < len(refs):
                logger.warning("%d of %d workers did not stop within %.0f s; killing them",
                               len(refs) - len(ready), len(refs), SHUTDOWN_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - dead workers must not stop the cleanup
            logger.warning("worker shutdown failed; killing the workers", exc_info=True)
        finally:
            for worker in self.workers:
                ray.kill(worker)
            remove_placement_group(self.placement_group)


def init_ray(num_cpus: int | None = None) -> None:
    """Connect to ``RAY_ADDRESS`` when set, else start a private local cluster.

    The local cluster lives in its own short temp dir (``/tmp/rayXXXX``; socket paths must stay short), so
    other users' sessions under ``/tmp/ray`` are never touched; :func:`shutdown_ray` removes it.
    """
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        logger.info("connecting to the Ray cluster at %s", os.environ["RAY_ADDRESS"])
        ray.init(address=os.environ["RAY_ADDRESS"], runtime_env={"env_vars": worker_env()})
        return
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp" if os.path.isdir("/tmp") else None)
    _RAY_TEMP_DIRS.append(temp_dir)
    logger.info("starting a local Ray cluster (num_cpus=%s, temp dir %s)", num_cpus, temp_dir)
    ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir,
             runtime_env={"env_vars": worker_env()}, logging_level=logging.WARNING)


def shutdown_ray() -> None:
    """Stop Ray and delete the private temp dirs this process created (never ``/tmp/ray``)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    while _RAY_TEMP_DIRS:
        shutil.rmtree(_RAY_TEMP_DIRS.pop(), ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])

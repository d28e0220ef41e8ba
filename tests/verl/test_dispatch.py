"""Worker methods are called as attributes of the group, with the dispatch mode registered on them."""

from __future__ import annotations

import os

import pytest
import torch

from verl.protocol import Batch
from verl.single_controller.dispatch import Dispatch, register, registered_methods
from verl.single_controller.worker_group import (
    LocalWorkerGroup,
    RayWorkerGroup,
    WorkerLost,
    get_all,
    init_ray,
    shutdown_ray,
)


class EchoWorker:
    """Records what each rank received; ``double`` is data-parallel, ``whoami`` goes to every rank."""

    def __init__(self, tag: str, rank: int, world_size: int) -> None:
        self.tag, self.rank, self.world_size = tag, rank, world_size

    @register(Dispatch.DP_COMPUTE)
    def double(self, batch: Batch) -> Batch:
        return Batch({"x": batch["x"] * 2, "rank": torch.full((len(batch),), self.rank)})

    @register(Dispatch.ALL)
    def whoami(self, suffix: str) -> str:
        return f"{self.tag}{self.rank}{suffix}"

    def not_registered(self) -> str:
        return "never called by the driver"

    def shutdown(self) -> None:
        pass


def test_the_registry_lists_only_decorated_methods() -> None:
    assert registered_methods(EchoWorker) == {"double": Dispatch.DP_COMPUTE, "whoami": Dispatch.ALL}


def test_register_takes_a_mode() -> None:
    with pytest.raises(TypeError, match="Dispatch mode"):
        register("all")  # type: ignore[arg-type]


def test_a_misspelt_method_fails_at_attribute_access_with_a_hint() -> None:
    group = LocalWorkerGroup(EchoWorker, "w")
    with pytest.raises(AttributeError, match=r"no method 'dubble'.*did you mean 'double'"):
        group.dubble  # noqa: B018 - the access itself must fail, before any call
    with pytest.raises(AttributeError, match="not_registered"):
        group.not_registered  # noqa: B018 - a method without a mode is not exposed


def test_a_worker_method_may_not_shadow_a_group_attribute() -> None:
    class Clash(EchoWorker):
        @register(Dispatch.ALL)
        def dispatch(self, batch: Batch) -> None:  # type: ignore[override]
            pass

    with pytest.raises(TypeError, match="already has an attribute 'dispatch'"):
        LocalWorkerGroup(Clash, "w")


def test_modes_are_honoured_on_one_local_rank() -> None:
    group = LocalWorkerGroup(EchoWorker, "w")
    assert group.whoami("!") == ["w0!"]  # ALL: a list with one result per rank
    out = group.double(Batch({"x": torch.tensor([1.0, 2.0, 3.0])}))
    assert out["x"].tolist() == [2.0, 4.0, 6.0]


def test_modes_are_honoured_across_ray_ranks() -> None:
    """DP_COMPUTE splits 5 rows over 2 ranks (3 + 2, the tail padded and dropped again); ALL reaches both."""
    init_ray(num_cpus=2)
    group = None
    try:
        group = RayWorkerGroup(EchoWorker, "r", nnodes=1, per_node=2, use_gpu=False)
        assert group.whoami("?") == ["r0?", "r1?"]
        out = group.double(Batch({"x": torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])}))
        assert out["x"].tolist() == [2.0, 4.0, 6.0, 8.0, 10.0]
        assert out["rank"].tolist() == [0, 0, 0, 1, 1]
    finally:
        if group is not None:
            group.shutdown()
        shutdown_ray()


class FailingWorker:
    """Rank 0 raises ``message`` after ``fail_after`` s; rank 1 exits its process after ``die_after`` s (its
    node lost), or returns then when ``die_after`` is None."""

    def __init__(self, rank: int, fail_after: float, die_after: float | None, message: str) -> None:
        self.rank, self.fail_after, self.die_after, self.message = rank, fail_after, die_after, message

    def step(self) -> int:
        import time

        if self.rank == 0:
            time.sleep(self.fail_after)
            raise RuntimeError(self.message)
        time.sleep(self.die_after or self.fail_after * 2)
        if self.die_after is not None:
            os._exit(1)
        return self.rank


GLOO_PEER_GONE = "[gloo/transport/tcp/pair.cc:561] Connection closed by peer [127.0.0.1]:26547"


def _failing_pair(die_after: float | None, message: str = GLOO_PEER_GONE) -> list:
    import ray

    actor = ray.remote(num_cpus=0)(FailingWorker)
    workers = [actor.remote(rank, 0.5, die_after, message) for rank in range(2)]
    return [w.step.remote() for w in workers]


def test_a_collective_broken_before_a_peer_is_seen_dead_names_the_dead_rank() -> None:
    import time

    init_ray(num_cpus=2)
    try:
        with pytest.raises(WorkerLost, match=r"^rank 1 was lost "):
            get_all(_failing_pair(die_after=3.0), grace_s=30.0)
        # no peer dies: the live rank's own error once the grace has passed
        with pytest.raises(RuntimeError, match="Connection closed by peer") as raised:
            get_all(_failing_pair(die_after=None), grace_s=2.0)
        assert not isinstance(raised.value, WorkerLost)
        # any other error of a live rank is raised at once, not after the grace (the peer dies 20 s later)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="injected fault"):
            get_all(_failing_pair(die_after=20.0, message="injected fault"), grace_s=60.0)
        assert time.monotonic() - started < 15
    finally:
        shutdown_ray()


@pytest.mark.parametrize(("text", "gone"), [
    ("[gloo/transport/tcp/pair.cc:561] Connection closed by peer [127.0.0.1]:26547", True),
    ("[gloo/transport/tcp/pair.cc:573] Connection reset by peer", True),
    ("[gloo/transport/tcp/unbound_buffer.cc:81] Broken pipe", True),
    ("NCCL WARN socketProgress: Connection closed by remote peer 10.0.0.2<43210>", True),
    ("NCCL error in: ProcessGroupNCCL.cpp:1970, remote process exited or there was a network error", True),
    ("ncclRemoteError: Remote process error", True),
    ("NCCL communicator was aborted on rank 1. Original reason for failure was: ...", True),
    ("RuntimeError: injected fault", False),
    ("CUDA out of memory. Tried to allocate 2.00 GiB", False),
])
def test_peer_gone_knows_gloo_and_nccl_words(text: str, gone: bool) -> None:
    from verl.single_controller.worker_group import peer_gone

    assert peer_gone(text) is gone

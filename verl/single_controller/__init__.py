"""Single controller: the driver owns worker groups and calls their methods with Batch data."""

from verl.single_controller.worker_group import LocalWorkerGroup, RayWorkerGroup, WorkerGroup, init_ray

__all__ = ["LocalWorkerGroup", "RayWorkerGroup", "WorkerGroup", "init_ray"]

"""Task functions: annotated objects -> (question, answer, ground truth) for SFT and GRPO."""

from dataset.task_fns.base import EmptySampleError, TaskSample
from dataset.task_fns.categories import clean_category_name
from dataset.task_fns.grounding_task import GroundingTaskFn
from dataset.task_fns.pointing_task import PointingTaskFn

__all__ = ["EmptySampleError", "GroundingTaskFn", "PointingTaskFn", "TaskSample", "clean_category_name"]

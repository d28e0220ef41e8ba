"""Task functions: annotated objects -> (question, answer, ground truth) for SFT and GRPO."""

from dataset.task_fns.base import EmptySampleError, TaskSample
from dataset.task_fns.categories import clean_category_name
from dataset.task_fns.grounding_task import GroundingTaskFn
from dataset.task_fns.gui_task import GuiGroundingTaskFn, GuiPointingTaskFn
from dataset.task_fns.keypoint_task import KeypointTaskFn
from dataset.task_fns.ocr_task import OcrBoxTaskFn, OcrPolygonTaskFn
from dataset.task_fns.pointing_task import PointingTaskFn
from dataset.task_fns.referring_task import ReferringTaskFn
from dataset.task_fns.visual_prompt_task import VisualPromptTaskFn

__all__ = ["EmptySampleError", "GroundingTaskFn", "GuiGroundingTaskFn", "GuiPointingTaskFn", "KeypointTaskFn",
           "OcrBoxTaskFn", "OcrPolygonTaskFn", "PointingTaskFn", "ReferringTaskFn", "TaskSample",
           "VisualPromptTaskFn", "clean_category_name"]

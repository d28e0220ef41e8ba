"""Prompt templates; every entry contains ``[OBJ]``, replaced by the comma-joined categories."""

from dataset.task_fns.task_prompts.grounding_task import GROUNDING_SINGLE_REGION_STAGE_XYXY
from dataset.task_fns.task_prompts.pointing_task import POINTING_TASK_PROMPTS

__all__ = ["GROUNDING_SINGLE_REGION_STAGE_XYXY", "POINTING_TASK_PROMPTS"]

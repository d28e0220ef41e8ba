# The toy task table that configs/sft_tasks.py and configs/grpo_tasks.py share through mmengine's `_base_`
# list: task -> (file stem under data_root without _train/_val, task function). Each config adds its image
# bounds (image_min_pixels, image_max_pixels) to every task function. For real data: change the stems here.

from dataset.task_fns import (
    GroundingTaskFn,
    GuiGroundingTaskFn,
    GuiPointingTaskFn,
    KeypointTaskFn,
    OcrBoxTaskFn,
    OcrPolygonTaskFn,
    PointingTaskFn,
    VisualPromptTaskFn,
)
from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY, POINTING_TASK_PROMPTS

# Every training dataset keeps at most this many images, so each task gets the same share of the steps (the
# grounding/pointing toy sets have 2048, the others 512).
SAMPLES_PER_TASK = 512

task_datasets = dict(
    grounding=("toy_grounding", dict(type=GroundingTaskFn, task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY)),
    pointing=("toy_pointing", dict(type=PointingTaskFn, task_prompts=POINTING_TASK_PROMPTS)),
    visual_prompt=("toy_visual_prompt", dict(type=VisualPromptTaskFn)),
    keypoint=("toy_keypoint", dict(type=KeypointTaskFn)),
    ocr_box=("toy_ocr_box", dict(type=OcrBoxTaskFn)),
    ocr_polygon=("toy_ocr_polygon", dict(type=OcrPolygonTaskFn)),
    gui_grounding=("toy_gui", dict(type=GuiGroundingTaskFn)),
    gui_pointing=("toy_gui", dict(type=GuiPointingTaskFn)),
)

"""Prompts of the released model's other tasks, byte for byte as its inference wrapper sends them
(``WRAPPER``) and, where they differ, as its evaluation scripts send them (``EVALUATION``).

``[OBJ]`` is replaced by the categories (joined with ``", "``), ``[KEYPOINTS]`` by the joint names
(joined with ``", "``), ``[VISUAL_PROMPT]`` by the reference-box JSON. Quirks kept on purpose: GUI
grounding's doubled closing quote, the un-pluralised OCR category (``Detect all text line ...``).
"""

# Visual prompting: the wrapper's JSON is {"object_1": ["<x0><y0><x1><y1>", ...]}; the evaluation's is
# {category: "<x0><y0><x1><y1>, <...>"}.
VISUAL_PROMPT_WRAPPER = (
    "Given reference boxes [VISUAL_PROMPT] indicating one or more objects, find all similar objects in the "
    "image and output their bounding boxes."
)
VISUAL_PROMPT_EVALUATION = (
    "Given reference boxes [VISUAL_PROMPT] indicating one or more objects, find all objects with the same "
    "category in the image and output their bounding boxes in [x0, y0, x1, y1] format."
)

KEYPOINT_WRAPPER = (
    "Can you detect each [OBJ] in the image using a [x0, y0, x1, y1] box format, and then provide the "
    "coordinates of its [KEYPOINTS] as [x0, y0]? Output the answer in JSON format."
)

OCR_BOX_WRAPPER = "Detect all [OBJ] and recognize them."
OCR_BOX_EVALUATION = (
    "Can you detect all the [OBJ] in this image in box format like [x0, y0, x1, y1] and then recognize them?"
)
OCR_POLYGON_WRAPPER = (
    "Can you detect all [OBJ] in this image in polygon format like [x0, y0, x1, y1, x2, y2 ...] and then "
    "recognize them?"
)
OCR_POLYGON_EVALUATION = (
    "Can you detect all the [OBJ] in this image in polygon format like [x0, y0, x1, y1, x2, y2 ...] and then "
    "recognize them?"
)

GUI_GROUNDING_WRAPPER = 'Detect element "[OBJ]"" in the image.'
GUI_GROUNDING_CORRECTED = 'Detect element "[OBJ]" in the image.'
GUI_POINTING_WRAPPER = 'Point to element "[OBJ]".'
GUI_POINTING_TUTORIAL = "Point to element '[OBJ]'."

# The wrapper's detection prompt, used for referring expressions and hallucination checks.
DETECTION_WRAPPER = "Detect [OBJ]. Output the bounding box coordinates in [x0, y0, x1, y1] format."

# Joint names in prompt order, per keypoint type (the wrapper's lists; "hand" is the maintainers' list,
# which the wrapper advertises but lacks).
KEYPOINT_NAMES = {
    "person": (
        "nose", "left eye", "right eye", "left ear", "right ear", "left shoulder", "right shoulder",
        "left elbow", "right elbow", "left wrist", "right wrist", "left hip", "right hip", "left knee",
        "right knee", "left ankle", "right ankle",
    ),
    "animal": (
        "left eye", "right eye", "nose", "neck", "root of tail", "left shoulder", "left elbow",
        "left front paw", "right shoulder", "right elbow", "right front paw", "left hip", "left knee",
        "left back paw", "right hip", "right knee", "right back paw",
    ),
    "hand": (
        "wrist", "thumb root", "thumb's third knuckle", "thumb's second knuckle", "thumb's first knuckle",
        *(f"{finger} finger's {part}" if finger != "forefinger" else f"forefinger's {part}"
          for finger in ("forefinger", "middle", "ring", "pinky")
          for part in ("root", "third knuckle", "second knuckle", "first knuckle")),
    ),
}

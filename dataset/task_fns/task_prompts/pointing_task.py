"""Pointing prompts, in the style of the grounding list.

The first entry is the released model's inference prompt (``rex_omni/tasks.py``); it is
repeated, like the grounding list's short form, so that it is drawn more often.
"""

_FORMAT = "[x0, y0]"

_CAPITALISED = [
    "Point to [OBJ].",
    "Point to [OBJ] in this image.",
    "Please point to [OBJ].",
    "Please point to [OBJ] in the image.",
    f"Point to [OBJ]. Output the point coordinates in {_FORMAT} format.",
    f"Please point to [OBJ] in this image. Output the point coordinates in {_FORMAT} format.",
    f"Find [OBJ] in the image and output one point on each instance in {_FORMAT} format.",
    f"Locate [OBJ] in the image with points in {_FORMAT} format.",
    "Mark [OBJ] in the image with a point on each instance.",
    f"Where is [OBJ]? Answer with a point {_FORMAT} for each instance.",
    f"What is the location of [OBJ]? Return one point per instance as {_FORMAT}.",
    f"Can you point to [OBJ] in this picture? Give the coordinates as {_FORMAT}.",
    "Indicate where [OBJ] is located with a point.",
    "Show me where [OBJ] is by pointing to it.",
    f"Give the coordinates of a point on [OBJ] using {_FORMAT} format.",
    "Put a point on every instance of [OBJ] in the image.",
    "Identify [OBJ] in the image and point to each one.",
]

POINTING_TASK_PROMPTS: list[str] = [
    _CAPITALISED[0],
    *["Point to [OBJ]."] * 3,
    *_CAPITALISED[1:],
    *[t[0].lower() + t[1:] for t in _CAPITALISED],
]

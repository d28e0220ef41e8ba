"""Grounding prompts: the original Rex-Omni list, with its missing comma fixed.

The original's repetitions are kept on purpose so that sampling weights match it: the short
form ``detect [OBJ].`` / ``Detect [OBJ].`` is drawn with probability 7/43.
"""

_FORMAT = "[x0, y0, x1, y1]"

# Capitalised templates in source order; the original then repeats them with a lowercase first letter.
_CAPITALISED = [
    "Detect [OBJ].",
    "Please detect [OBJ] in this image.",
    f"Detect [OBJ]. Output the bounding box coordinates in {_FORMAT} format.",
    f"Please detect [OBJ] in this image. Output the bounding box coordinates in {_FORMAT} format.",
    f"Find [OBJ] in the image. Output the bounding box coordinates in {_FORMAT} format.",
    f"Detect [OBJ] in the image. Output the bounding box coordinates in {_FORMAT} format.",
    f"Locate [OBJ] in the image. Output the bounding box coordinates in {_FORMAT} format.",
    f"Identify [OBJ] in the image. Output the bounding box coordinates in {_FORMAT} format.",
    f"Please locate [OBJ]. Output the bounding box coordinates in {_FORMAT} format.",
    f"What is the location of [OBJ]? Return its bounding box as {_FORMAT}.",
    f"Mark the region where [OBJ] appears using {_FORMAT} format.",
    f"Can you find [OBJ] in this picture? Give the coordinates as {_FORMAT}.",
    f"Highlight [OBJ] in the image and output its bounding box in {_FORMAT}.",
    f"Indicate where [OBJ] is located with bounding box coordinates {_FORMAT}.",
    f"Show me the bounding box for [OBJ] in {_FORMAT} format.",
    "Return the bounding box coordinates for [OBJ] in the image.",
    f"Give the coordinates of the box around [OBJ] using {_FORMAT} format.",
    f"Determine the bounding box of [OBJ] and return it as {_FORMAT}.",
    f"Identify the bounding box location of [OBJ] using the format {_FORMAT}.",
]

GROUNDING_SINGLE_REGION_STAGE_XYXY: list[str] = [
    _CAPITALISED[0],
    *["detect [OBJ]."] * 5,
    *_CAPITALISED[1:],
    *[t[0].lower() + t[1:] for t in _CAPITALISED],
]

"""Prompt template lists."""

from __future__ import annotations

from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY, POINTING_TASK_PROMPTS


def test_grounding_prompts_match_the_original_with_the_comma_fixed() -> None:
    prompts = GROUNDING_SINGLE_REGION_STAGE_XYXY
    assert len(prompts) == 43
    assert all(p.count("[OBJ]") == 1 for p in prompts)
    assert prompts[:6] == ["Detect [OBJ]."] + ["detect [OBJ]."] * 5
    # The two strings the original merged by a missing comma are separate entries again.
    assert prompts[6] == "Please detect [OBJ] in this image."
    assert prompts[7] == "Detect [OBJ]. Output the bounding box coordinates in [x0, y0, x1, y1] format."
    assert prompts[23] == "Identify the bounding box location of [OBJ] using the format [x0, y0, x1, y1]."
    assert prompts[24:] == [p[0].lower() + p[1:] for p in [prompts[0], *prompts[6:24]]]
    assert sum(p.lower() == "detect [obj]." for p in prompts) == 7
    assert len(set(prompts)) == 38  # the original repeats the short form; weights kept


def test_pointing_prompts() -> None:
    prompts = POINTING_TASK_PROMPTS
    assert 20 <= len(prompts) <= 40
    assert prompts[0] == "Point to [OBJ]."  # the released model's inference prompt
    assert all(p.count("[OBJ]") == 1 for p in prompts)
    assert all(p.strip() == p and p.endswith((".", "?")) for p in prompts)

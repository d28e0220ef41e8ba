"""Skeleton edges between named joints, for drawing keypoint instances.

Edges are pairs of joint names of the keypoint types the task knows (``KEYPOINT_NAMES``): COCO's 19
person edges, AP-10K's 17 animal edges, and the hand's five finger chains from the wrist.
"""

from __future__ import annotations

from collections.abc import Sequence

from dataset.task_fns.task_prompts.other_tasks import KEYPOINT_NAMES

__all__ = ["SKELETONS", "skeleton_edges"]

Edge = tuple[str, str]


def _person() -> tuple[Edge, ...]:
    edges: list[Edge] = [("left shoulder", "right shoulder"), ("left hip", "right hip"),
                         ("left eye", "right eye"), ("nose", "left eye"), ("nose", "right eye")]
    for side in ("left", "right"):
        edges += [(f"{side} ankle", f"{side} knee"), (f"{side} knee", f"{side} hip"),
                  (f"{side} shoulder", f"{side} hip"), (f"{side} shoulder", f"{side} elbow"),
                  (f"{side} elbow", f"{side} wrist"), (f"{side} eye", f"{side} ear"),
                  (f"{side} ear", f"{side} shoulder")]
    return tuple(edges)


def _animal() -> tuple[Edge, ...]:
    edges: list[Edge] = [("left eye", "right eye"), ("left eye", "nose"), ("right eye", "nose"), ("nose", "neck"),
                         ("neck", "root of tail")]
    for side in ("left", "right"):
        edges += [("neck", f"{side} shoulder"), (f"{side} shoulder", f"{side} elbow"),
                  (f"{side} elbow", f"{side} front paw"), ("root of tail", f"{side} hip"),
                  (f"{side} hip", f"{side} knee"), (f"{side} knee", f"{side} back paw")]
    return tuple(edges)


def _hand() -> tuple[Edge, ...]:
    wrist, *fingers = KEYPOINT_NAMES["hand"]
    edges: list[Edge] = []
    for start in range(0, len(fingers), 4):  # each finger: root, third, second, first knuckle
        chain = [wrist, *fingers[start:start + 4]]
        edges += list(zip(chain, chain[1:]))
    return tuple(edges)


SKELETONS: dict[str, tuple[Edge, ...]] = {"person": _person(), "animal": _animal(), "hand": _hand()}


def skeleton_edges(joint_names: Sequence[str]) -> list[Edge]:
    """The edges between ``joint_names``: those of the known skeleton with the most edges among them;
    for names no known skeleton joins, every joint is joined to the first (a star that holds the
    instance's joints together)."""
    names = set(joint_names)
    best = max((tuple(e for e in edges if e[0] in names and e[1] in names) for edges in SKELETONS.values()),
               key=len)
    if best:
        return list(best)
    return [(joint_names[0], name) for name in joint_names[1:]]

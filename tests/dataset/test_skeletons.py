"""dataset/skeletons.py: edges between named joints."""

from __future__ import annotations

from dataset.skeletons import SKELETONS, skeleton_edges
from dataset.task_fns.task_prompts.other_tasks import KEYPOINT_NAMES


def test_every_edge_joins_two_joints_of_its_type() -> None:
    for kind, edges in SKELETONS.items():
        assert all(a in KEYPOINT_NAMES[kind] and b in KEYPOINT_NAMES[kind] for a, b in edges), kind
    assert (len(SKELETONS["person"]), len(SKELETONS["animal"]), len(SKELETONS["hand"])) == (19, 17, 20)


def test_hand_fingers_are_chains_from_the_wrist() -> None:
    edges = skeleton_edges(KEYPOINT_NAMES["hand"])
    assert ("wrist", "thumb root") in edges and ("thumb root", "thumb's third knuckle") in edges
    assert ("pinky finger's second knuckle", "pinky finger's first knuckle") in edges
    assert sum(a == "wrist" for a, _ in edges) == 5


def test_person_names_pick_the_person_skeleton() -> None:
    edges = skeleton_edges(KEYPOINT_NAMES["person"])
    assert ("left knee", "left hip") in edges and ("left shoulder", "right shoulder") in edges
    assert ("nose", "neck") not in edges  # an animal edge


def test_unknown_names_are_joined_to_the_first() -> None:
    assert skeleton_edges(["head", "left hand", "right foot"]) == [("head", "left hand"), ("head", "right foot")]

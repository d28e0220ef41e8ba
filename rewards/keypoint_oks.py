"""``keypoint_oks``: keypoints, a one-to-one F1 of OKS between predicted and GT instances.

The answer is the JSON object (``dataset.grammar.parse_keypoint_answer``); a JSON error leaves no
instance (``format_ok`` 0). Instances of every category are pooled (the official metric ignores the
names). For a GT instance ``g`` and a prediction ``p``::

    OKS'(g, p) = mean over the joints labelled in g (v > 0) of exp(-d² / (2 σ² A))

with ``A`` the GT box area (w·h pixels, as the official metric) and ``d`` the pixel distance. A joint
that ``p`` leaves out or writes ``"unvisible"`` contributes 0 (the official metric skips it, so an
answer without joints could reach 1). ``sigma`` is one σ for every joint (default 0.025, the official
metric's) or a list, one per joint in ``keypoint_names`` order (COCO's per-joint σ, for example).
``penalise_unlabelled=True`` also counts joints with GT v = 0: a prediction of one scores 0 there,
``"unvisible"`` scores 1.

GT instances with box area 0 or no labelled joint are dropped. Instances are matched one-to-one for
the largest total OKS', then ``R = ΣOKS'/n_gt``, ``P = ΣOKS'/n_pred``, reward = F1 (both sides empty:
1; one side empty: 0, where the official metric gives 1 for predictions without GT).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dataset.grammar import dequantize, parse_keypoint_answer
from rewards.ground_truth import GroundTruth, GroundTruthError
from rewards.matching import soft_f1
from rewards.registry import RewardResult, register_reward

DEFAULT_SIGMA = 0.025
_FAR = 1e150  # stands for a missing joint: its squared distance overflows to inf, exp(-inf) = 0


def gt_keypoints(gt: GroundTruth) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Joint names, ``(n, J, 3)`` GT joints (x, y, v) and ``(n,)`` box areas of the usable GT instances."""
    names = gt.raw.get("keypoint_names")
    boxes, kps = [], []
    for phrase, entry in (gt.raw.get("answer") or {}).items():
        if len(entry.get("keypoints") or []) != len(entry.get("boxes") or []):
            raise GroundTruthError(f"answer[{phrase!r}] needs one box per keypoints entry")
        boxes.extend(entry.get("boxes") or [])
        kps.extend(entry.get("keypoints") or [])
    if names is None:
        names = list(kps[0]) if kps else []
    absent = (0.0, 0.0, 0.0)
    try:
        joints = np.array([[k.get(n, absent) for n in names] for k in kps], dtype=np.float64).reshape(-1, len(names), 3)
        box = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    except (ValueError, TypeError, AttributeError) as exc:
        raise GroundTruthError(f"keypoint ground truth must hold [x, y, v] joints and xyxy boxes: {exc}") from None
    areas = np.abs((box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]))
    keep = (areas > 0) & (joints[:, :, 2] > 0).any(axis=1)
    return list(names), joints[keep], areas[keep]


_MISSING = (-1, -1)


def predicted_keypoints(text: str, names: Sequence[str], width: float, height: float) -> np.ndarray:
    """``(n, J, 2)`` pixel joints of the answer's instances, NaN where left out or ``"unvisible"``."""
    instances = parse_keypoint_answer(text)
    bins = np.array([[inst.keypoints.get(n) or _MISSING for n in names] for inst in instances],
                    dtype=np.float64).reshape(len(instances), len(names), 2)
    out = dequantize(bins, np.array([width, height]))
    out[bins[..., 0] < 0] = np.nan
    return out


def oks_matrix(pred: np.ndarray, joints: np.ndarray, areas: np.ndarray, sigma: float | np.ndarray,
               penalise_unlabelled: bool = False) -> np.ndarray:
    """``(n_pred, n_gt)`` OKS' (see the module docstring) from ``(P, J, 2)`` predictions (NaN = none),
    ``(G, J, 3)`` GT joints and ``(G,)`` areas."""
    missing = np.isnan(pred[..., 0])                                            # (P, J)
    far = np.where(np.isnan(pred), _FAR, pred)                                  # exp(-d²/...) underflows to 0
    inv_scale = 1.0 / (2.0 * np.asarray(sigma, dtype=np.float64) ** 2 * areas[:, None])  # (G, J)
    dx = far[:, None, :, 0] - joints[None, :, :, 0]
    dy = far[:, None, :, 1] - joints[None, :, :, 1]
    with np.errstate(over="ignore"):
        dx *= dx
        dy *= dy
        dx += dy
        dx *= -inv_scale
    sim = np.exp(dx, out=dx)                                                    # (P, G, J)
    labelled = joints[:, :, 2] > 0                                              # (G, J)
    if penalise_unlabelled:
        right_absent = (missing[:, None, :] & ~labelled[None]).astype(np.float64)
        return np.where(labelled[None], sim, right_absent).mean(-1)
    weights = labelled / labelled.sum(-1, keepdims=True)                        # (G, J), rows sum to 1
    return np.einsum("pgj,gj->pg", sim, weights)


def _reward(text: str, gt: GroundTruth, sigma: float | Sequence[float] = DEFAULT_SIGMA,
            penalise_unlabelled: bool = False) -> RewardResult:
    names, joints, areas = gt_keypoints(gt)
    sigmas = np.asarray(sigma, dtype=np.float64)
    if sigmas.ndim and len(sigmas) != len(names):
        raise ValueError(f"keypoint_oks sigma needs one value per joint ({len(names)}), got {len(sigmas)}")
    pred = predicted_keypoints(text, names, gt.width, gt.height)
    fmt = 1.0 if len(pred) else 0.0  # no instance read: invalid JSON, or nothing answered
    weights = oks_matrix(pred, joints, areas, sigmas, penalise_unlabelled) if len(pred) and len(joints) \
        else np.zeros((len(pred), len(joints)))
    return soft_f1(weights, len(pred), len(joints), format_ok=fmt)


_reward.reads_text = True  # type: ignore[attr-defined]  (scored on the raw answer text, not phrase groups)
keypoint_oks_reward = register_reward("keypoint_oks")(_reward)

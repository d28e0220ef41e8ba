"""compute_score wiring: keys, registry, format_ok, debug log and visualisation."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from reward_helpers import answer, make_gt

from rewards import RewardResult, UnknownRewardError, get_reward, known_rewards, register_reward
from verl.configs.reward_func import compute_score

A = [100, 100, 300, 300]
GT = make_gt({"dog": {"boxes": [A]}, "cat": {"boxes": []}})


def test_unknown_reward_lists_known_names() -> None:
    with pytest.raises(UnknownRewardError, match="box_iou, point_in_box, point_in_mask"):
        compute_score(["x"], [{**GT, "reward_name": "boxiou"}])
    with pytest.raises(UnknownRewardError):
        compute_score(["x"], [GT], reward_options={"boxiou": {}})


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1"):
        compute_score(["a", "b"], [GT])


def test_custom_reward_by_name() -> None:
    @register_reward("test_constant")
    def constant(groups, gt, value: float = 0.25) -> RewardResult:
        return RewardResult(value, value, value)

    assert "test_constant" in known_rewards() and get_reward("test_constant") is constant
    rows = compute_score(["", ""], [{**GT, "reward_name": "test_constant"}] * 2,
                         reward_options={"test_constant": {"value": 0.5}})
    assert rows[0] == {"overall": 0.5, "test_constant": 0.5, "precision": 0.5, "recall": 0.5, "format_ok": 0.0}


@pytest.mark.parametrize(
    ("text", "gt", "ok"),
    [
        (answer(("dog", None)), GT, 1.0),
        ("I see a dog", GT, 0.0),
        ("  <|im_end|>", make_gt({"cat": {"boxes": []}}), 1.0),
        ("", GT, 0.0),
        ("<|object_ref_start|>dog<|object_ref_end|>", GT, 0.0),
    ],
)
def test_format_ok(text: str, gt: dict, ok: float) -> None:
    assert compute_score([text], [gt])[0]["format_ok"] == ok


def test_debug_log_headers_match_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG_MODE", "true")
    monkeypatch.delenv("LOG_PATH", raising=False)
    texts = [answer(("dog", [tuple(A)])), answer(("cat", [tuple(A)]))]
    rows = compute_score(texts, [GT, GT], log_dir=tmp_path / "new" / "dir")
    log = (tmp_path / "new" / "dir" / "reward_debug.log").read_text()
    headers = [line for line in log.splitlines() if line.startswith("------------- Reward")]
    assert headers == [f"------------- Reward: box_iou: {r['overall']:.6f} | Dataset: test -------------" for r in rows]


def test_debug_log_never_crashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("DEBUG_MODE", "1")
    monkeypatch.setenv("LOG_PATH", str(blocker / "sub" / "log.txt"))  # parent is a file
    assert compute_score([""], [GT])[0]["overall"] == 0.0


def test_visualisation_needs_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_VISUALIZE_PATH", str(tmp_path / "vis"))
    mask = {"size": [999, 999], "counts": [999 * 500, 999 * 499]}
    gt = make_gt({"dog": {"boxes": [A], "masks": [mask]}, "cat": {"boxes": []}})
    compute_score([answer(("dog", [tuple(A)]))], [gt])
    assert not (tmp_path / "vis").exists()
    compute_score([answer(("dog", [tuple(A)])), "junk"], [gt, gt], images=[Image.new("RGB", (999, 999)), None])
    (png,) = (tmp_path / "vis").glob("*.png")
    with Image.open(png) as image:
        assert image.width == 2 * 512 and png.name.startswith("box_iou_test_")

"""The evaluation's HTML page: self-contained, draws GT and predictions, sorts by F1, filters by category.

The browser checks open the page in headless Chromium (screenshot, and the DOM after the page's
script ran); they are skipped when no chromium binary is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation.html_report import GT_COLOUR, PRED_COLOUR, ReportImage, render_report, write_report


def _records() -> list[dict]:
    box = [10.0, 10.0, 60.0, 60.0]
    return [
        {"image_path": "good.png", "task_name": "detection", "image_size": [100, 100], "question": "Detect cat.",
         "gt": {"cat": [box]}, "extracted_predictions": {"cat": [box]}},                      # F1 1
        {"image_path": "bad.png", "task_name": "detection", "image_size": [100, 100], "question": "Detect dog.",
         "gt": {"dog": [box]}, "extracted_predictions": {"dog": [[70.0, 70.0, 95.0, 95.0]]}},  # F1 0
        {"image_path": "half.png", "task_name": "detection", "image_size": [100, 100], "question": "Detect cat, <b>.",
         "gt": {"cat": [box, [70.0, 0.0, 99.0, 30.0]]}, "extracted_predictions": {"cat": [box]}},  # P 1, R 1/2
    ]


def _items() -> list[ReportImage]:
    grey = Image.fromarray(np.full((100, 100, 3), 200, dtype=np.uint8))
    return [ReportImage.from_record(r, grey) for r in _records()]


def test_page_is_self_contained_and_escaped() -> None:
    items = _items()
    assert [round(i.f1, 4) for i in items] == [1.0, 0.0, round(2 * 0.5 / 1.5, 4)]
    page = render_report(items, "toy <val>", {"protocol_box_f1@0.5": 0.5})
    assert "http://" not in page and "https://" not in page and "src=" not in page  # nothing fetched
    assert page.count("data:image/jpeg;base64,") == 3
    assert "toy &lt;val&gt;" in page and "Detect cat, &lt;b&gt;." in page
    assert '<option value="cat">' in page and '<option value="dog">' in page
    assert page.count(f'stroke="{GT_COLOUR}"') == 4 and page.count(f'stroke="{PRED_COLOUR}"') == 3


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium binary on PATH (apt-get install -y chromium) - the HTML page was not opened")


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def test_chromium_screenshot_shows_the_drawings(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_report(page, _items(), "toy")
    shot = tmp_path / "shot.png"
    _run_chromium(f"--screenshot={shot}", "--window-size=1000,700", page.as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    def share(rgb: str) -> float:
        target = np.array([int(rgb[i:i + 2], 16) for i in (1, 3, 5)])
        return float((np.abs(pixels - target).sum(axis=1) < 60).mean())
    assert share(GT_COLOUR) > 1e-4 and share(PRED_COLOUR) > 1e-4  # both kinds of outline are on screen
    assert share("#c8c8c8") > 0.05  # the embedded (grey) images rendered


def _card_order(dom: str) -> list[tuple[str, bool]]:
    cards = re.findall(r'(<div class="card"[^>]*>)<div class="head"><b>([^<]+)</b>', dom)
    return [(name, " hidden" in tag) for tag, name in cards]


def test_chromium_sorts_by_f1_and_filters_by_category(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_report(page, _items(), "toy")
    worst_first = _run_chromium("--dump-dom", page.as_uri() + "#sort=f1-asc").stdout
    assert [n for n, _ in _card_order(worst_first)] == ["bad.png", "half.png", "good.png"]
    dogs = _run_chromium("--dump-dom", page.as_uri() + "#sort=f1-desc&category=dog").stdout
    assert _card_order(dogs) == [("good.png", True), ("half.png", True), ("bad.png", False)]
    assert '<span id="shown">1</span>' in dogs

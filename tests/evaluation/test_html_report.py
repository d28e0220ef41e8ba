"""The evaluation's HTML page: a summary first, self-contained, pictures from the one drawer, sorts by
F1, filters by category.

The browser checks open the page in headless Chromium (screenshot, and the DOM after the page's
script ran); they are skipped when no chromium binary is installed.
"""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset.visualize import PALETTE, TITLE_HEIGHT
from evaluation.html_report import (
    ANSWER_CUT,
    PANEL_SIDE,
    ReportImage,
    folded_text,
    render_report,
    summary_html,
    write_report,
)


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
    assert "http://" not in page and "https://" not in page  # nothing fetched
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert len(links) == 3 and all(link.startswith("data:image/jpeg;base64,") for link in links)
    assert "toy &lt;val&gt;" in page and "Detect cat, &lt;b&gt;." in page
    assert '<option value="cat">' in page and '<option value="dog">' in page


METRICS = {"task": "grounding", "num_samples": 3, "parse_rate": 0.75,
           **{f"protocol_box_f1@{0.5 + 0.05 * i:g}": 0.9 - 0.08 * i for i in range(10)},
           "protocol_box_mean_f1": 0.54, "protocol_box_mean_precision": 0.6}


def test_summary_comes_first_with_the_headline_numbers_and_a_curve() -> None:
    page = render_report(_items(), "toy", METRICS)
    summary = summary_html(METRICS)
    assert summary in page and page.index(summary) < page.index('class="card"')
    top, table = summary.split("<details>", 1)
    for value, label in (("0.900", "box F1@0.5"), ("0.180", "box F1@0.95"), ("0.540", "box mean F1"),
                         ("0.750", "parse rate")):
        assert f"<b>{value}</b><br>{label}" in top
    svg = re.search(r"<svg.*?</svg>", top).group(0)
    assert svg.count("<circle") == 10
    # The polyline's first point (IoU 0.5, F1 0.9) sits higher (smaller y) than its last (0.95, 0.18).
    points = [tuple(map(float, p.split(","))) for p in re.search(r'polyline points="([^"]+)"', svg).group(1).split()]
    assert points[0][0] < points[-1][0] and points[0][1] < points[-1][1]
    assert table.startswith("<summary>all 15 metrics</summary><table>") and table.count("<tr>") == 15
    assert "protocol_box_mean_precision" in table and "protocol_box_mean_precision" not in top


def test_summary_without_an_f1_curve_has_no_svg() -> None:
    summary = summary_html({"parse_rate": 1.0, "protocol_gui_accuracy": 0.25})
    assert "<svg" not in summary
    assert "<b>0.250</b><br>GUI accuracy" in summary and "<b>1.000</b><br>parse rate" in summary


def test_long_answers_are_cut_with_an_ellipsis_and_open_whole() -> None:
    short = "<0><1><2><3>"
    assert folded_text("answer", short) == '<div class="q">answer: &lt;0&gt;&lt;1&gt;&lt;2&gt;&lt;3&gt;</div>'
    long = "cat" + "<9>" * 200 + " END"
    folded = folded_text("answer", long)
    assert folded.startswith('<details class="q" title=')
    tag, rest = folded.split("<summary>")
    assert tag == f'<details class="q" title="{html.escape(long, quote=True)}">'  # whole on hover too
    summary, body = rest.split("</summary>")
    assert summary.endswith("&hellip;") and "END" not in summary
    assert summary.count("&lt;9&gt;") == (ANSWER_CUT - 3) // 3
    assert body == html.escape(long) + "</details>"
    record = {**_records()[0], "raw_response": long}
    page = render_report([ReportImage.from_record(record, None)], "toy")
    assert "&hellip;</summary>" in page and html.escape(long) in page


def _decoded(item: ReportImage) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(item.jpeg_base64))).convert("RGB")).astype(int)


def _near(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 90) -> np.ndarray:
    return np.abs(pixels - np.array(colour)).sum(axis=-1) < tolerance


def test_card_pictures_come_from_the_one_drawer(monkeypatch: pytest.MonkeyPatch) -> None:
    import evaluation.html_report as report

    calls = []
    real = report.draw_comparison
    monkeypatch.setattr(report, "draw_comparison", lambda *a, **k: calls.append(a) or real(*a, **k))
    page = render_report(_items(), "toy")
    assert len(calls) == 3 and "<rect" not in page and "<polygon" not in page  # no drawing code of its own
    truth, predicted = calls[1][1], calls[1][2]  # bad.png: dog GT box vs a dog prediction elsewhere
    assert calls[1][0].size == (PANEL_SIDE, PANEL_SIDE)  # the 100 px image at the panel size: x 3.2
    assert [(o.phrase, o.box) for o in truth] == [("dog", (32.0, 32.0, 192.0, 192.0))]
    assert [(o.phrase, o.box) for o in predicted] == [("dog", (224.0, 224.0, 304.0, 304.0))]


def test_keypoint_card_draws_the_skeleton_and_ocr_card_the_polygon() -> None:
    keypoints = {"image_path": "k.png", "task_name": "keypoint", "image_size": [100, 100], "question": "q",
                 "gt": {"person": [{"bbox": [5, 5, 95, 95], "phrase": "person",
                                    "keypoints": {"left shoulder": [20, 50], "left elbow": [80, 50]}}]},
                 "extracted_predictions": {"person": [{"bbox": [5, 5, 95, 95], "keypoints": {
                     "left shoulder": [20, 50], "left elbow": "unvisible"}}]}}
    white = Image.new("RGB", (100, 100), (255, 255, 255))
    pixels = _decoded(ReportImage.from_record(keypoints, white))
    colour = PALETTE[0]  # the first phrase's colour
    s = PANEL_SIDE / 100  # the 100 px image is drawn at the panel size
    row, cols = TITLE_HEIGHT + round(50 * s), slice(round(30 * s), round(70 * s))
    assert _near(pixels[row, cols], colour).all()  # the ground-truth panel: the shoulder-elbow edge
    right = pixels.shape[1] // 2  # the prediction panel starts half-way (both panels are the same width)
    assert not _near(pixels[row, right + cols.start:right + cols.stop], colour).any()  # elbow unvisible: no edge
    ocr = {"image_path": "o.png", "task_name": "task2_detect_all_in_polygon_and_recog", "image_size": [200, 100],
           "question": "q", "gt": {"EXIT": [[20, 20, 180, 20, 180, 80, 20, 80]]}, "extracted_predictions": {}}
    item = ReportImage.from_record(ocr, Image.new("RGB", (200, 100), (255, 255, 255)))
    assert item.categories == ["EXIT"]
    pixels = _decoded(item)
    s = PANEL_SIDE / 200
    assert _near(pixels[TITLE_HEIGHT + round(80 * s), round(40 * s):round(160 * s)], colour).all()  # bottom edge


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
    write_report(page, _items(), "toy", METRICS)
    shot = tmp_path / "shot.png"
    _run_chromium(f"--screenshot={shot}", "--window-size=1400,900", page.as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    def share(rgb: tuple[int, int, int]) -> float:
        return float((np.abs(pixels - np.array(rgb)).sum(axis=1) < 60).mean())
    assert share(PALETTE[0]) > 1e-3  # the drawn boxes (each card's first phrase) and the F1 curve
    assert share((200, 200, 200)) > 0.02  # the embedded (grey) images rendered


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

"""One self-contained HTML page per evaluation: a compact summary, then GT vs prediction on every image.

The top of the page holds the headline numbers (F1 at IoU 0.5 and 0.95, mean F1, parse rate) and a
small SVG of F1 against the IoU threshold; the full metric table is folded below it (``<details>``).
Each card's picture is drawn by the project's one drawer (``dataset.visualize.draw_comparison``:
boxes, points, masks, OCR polygons with their text, keypoint skeletons) and embedded as base64 JPEG,
so the page needs no other file and no network. A long answer is cut with an ellipsis and shown
whole on click. A small script sorts the cards by per-image F1 and filters them by category; the
initial state can be set in the URL: ``report.html#sort=f1-asc&category=dog``.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from dataset.visualize import draw_comparison
from evaluation.official_predictions import image_f1
from evaluation.report_objects import record_objects, scale_objects

__all__ = ["ReportImage", "f1_curve", "render_report", "summary_html", "write_report"]

PANEL_SIDE = 320  # longest side of each of a card's two panels (ground truth, prediction), pixels;
# every image is resized to it (up or down) before drawing
ANSWER_CUT = 240  # characters of a question or answer shown before the ellipsis
# Metric families with F1 per IoU threshold, first one present wins: key prefix -> the summary's name.
F1_FAMILIES = {"protocol_box_": "box", "protocol_polygon_": "polygon", "box_": "box"}
# Headline numbers of the tasks without an F1 curve: metrics key -> label.
OTHER_HEADLINES = {
    "protocol_point_in_mask_f1": "point-in-mask F1", "protocol_point_in_box_f1": "point-in-box F1",
    "point_f1": "point F1", "protocol_keypoint_mean_f1": "keypoint mean F1",
    "protocol_keypoint_avg_oks": "keypoint mean OKS", "protocol_gui_accuracy": "GUI accuracy",
    "protocol_hallucination_accuracy": "hallucination accuracy",
}


@dataclass
class ReportImage:
    """One card: name, per-image F1, the drawn comparison as base64 JPEG, question and answer."""

    name: str
    f1: float
    jpeg_base64: str
    question: str = ""
    answer: str = ""
    categories: list[str] = field(default_factory=list)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], image: Image.Image | None) -> ReportImage:
        """A card from one predictions JSONL line (official shape, any task) and its image (``None``: grey)."""
        size = record.get("image_size") or ([image.width, image.height] if image is not None else [1000, 1000])
        width, height = int(size[0]), int(size[1])
        truth, predicted = record_objects(record)
        scale = PANEL_SIDE / max(width, height)  # small images grow too, so lines and labels stay legible
        small = (max(1, round(width * scale)), max(1, round(height * scale)))
        canvas = (image.convert("RGB") if image is not None else Image.new("RGB", (width, height), (68, 68, 68)))
        drawn = draw_comparison(canvas.resize(small), scale_objects(truth, (width, height), small),
                                scale_objects(predicted, (width, height), small))
        return cls(name=str(record.get("image_path", "")), f1=image_f1(record), jpeg_base64=jpeg_base64(drawn),
                   question=str(record.get("question", "")), answer=str(record.get("raw_response", "")),
                   categories=sorted({o.phrase for o in truth} | {o.phrase for o in predicted}))


def jpeg_base64(image: Image.Image) -> str:
    """``image`` as base64 JPEG."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=85, subsampling=0)  # 4:4:4 keeps thin colour lines
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def folded_text(label: str, text: str, cut: int = ANSWER_CUT) -> str:
    """``label: text`` escaped; a text longer than ``cut`` characters shows its first ``cut`` and an
    ellipsis, and opens whole on click (``<details>``; the full text is also the tooltip)."""
    if len(text) <= cut:
        return f'<div class="q">{html.escape(label)}: {html.escape(text)}</div>'
    return (f'<details class="q" title="{html.escape(text, quote=True)}"><summary>{html.escape(label)}: '
            f"{html.escape(text[:cut])}&hellip;</summary>{html.escape(text)}</details>")


def f1_curve(metrics: Mapping[str, Any]) -> tuple[str, list[tuple[float, float]]]:
    """``(family prefix, [(IoU threshold, F1), ...])`` of the first family in ``F1_FAMILIES`` whose
    ``<prefix>f1@<t>`` keys are in ``metrics``, thresholds ascending; ``("", [])`` when none is."""
    for prefix in F1_FAMILIES:
        points = []
        for key, value in metrics.items():
            if key.startswith(f"{prefix}f1@") and isinstance(value, (int, float)):
                points.append((float(key[len(prefix) + 3:]), float(value)))
        if points:
            return prefix, sorted(points)
    return "", []


def _number(value: float) -> str:
    return f"{value:.3f}"


def curve_svg(points: Sequence[tuple[float, float]], width: int = 220, height: int = 110) -> str:
    """A small inline SVG of F1 (0 to 1, up) against the IoU threshold (right), with its axes' ends labelled."""
    left, right, top, bottom = 30, width - 8, 8, height - 20
    lo, hi = min(t for t, _ in points), max(t for t, _ in points)

    def x(t: float) -> float:
        return left + (right - left) * ((t - lo) / (hi - lo) if hi > lo else 0.5)

    def y(f: float) -> float:
        return bottom - (bottom - top) * min(max(f, 0.0), 1.0)

    line = " ".join(f"{x(t):.1f},{y(f):.1f}" for t, f in points)
    dots = "".join(f'<circle cx="{x(t):.1f}" cy="{y(f):.1f}" r="2.5"><title>F1@{t:g} = {_number(f)}</title></circle>'
                   for t, f in points)
    return (f'<svg class="curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="F1 against the IoU threshold">'
            f'<path d="M{left},{top} V{bottom} H{right}" fill="none" stroke="#888"/>'
            f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">1</text>'
            f'<text x="{left - 4}" y="{bottom}" text-anchor="end">0</text>'
            f'<text x="{left}" y="{height - 5}">IoU {lo:g}</text>'
            f'<text x="{right}" y="{height - 5}" text-anchor="end">{hi:g}</text>'
            f'<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="2"/>'
            f'<g fill="#1f77b4">{dots}</g></svg>')


def summary_numbers(metrics: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The headline ``(label, value)`` pairs: F1@0.5, F1@0.95 and mean F1 of the first F1 family,
    the parse rate, and the other tasks' main numbers present in ``metrics``."""
    prefix, points = f1_curve(metrics)
    by_threshold = dict(points)
    family = F1_FAMILIES.get(prefix, "")
    numbers = [(f"{family} F1@{t:g}", by_threshold[t]) for t in (0.5, 0.95) if t in by_threshold]
    if isinstance(metrics.get(f"{prefix}mean_f1"), (int, float)) and prefix:
        numbers.append((f"{family} mean F1", float(metrics[f"{prefix}mean_f1"])))
    numbers += [(label, float(metrics[key])) for key, label in OTHER_HEADLINES.items()
                if isinstance(metrics.get(key), (int, float))]
    if isinstance(metrics.get("parse_rate"), (int, float)):
        numbers.append(("parse rate", float(metrics["parse_rate"])))
    return numbers


def summary_html(metrics: Mapping[str, Any]) -> str:
    """The page's top: the headline numbers, the F1 curve when there is one, and every metric in a
    folded table."""
    cells = "".join(f'<div class="num"><b>{_number(v)}</b><br>{html.escape(label)}</div>'
                    for label, v in summary_numbers(metrics))
    _, points = f1_curve(metrics)
    curve = curve_svg(points) if points else ""
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{v:.4f}</td></tr>" if isinstance(v, float)
                   else f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in metrics.items())
    table = (f"<details><summary>all {len(metrics)} metrics</summary><table>{rows}</table></details>"
             if metrics else "")
    return f'<div class="summary">{cells}{curve}</div>{table}'


def _card(index: int, item: ReportImage) -> str:
    cats = html.escape("\t".join(item.categories), quote=True)
    return (f'<div class="card" data-index="{index}" data-f1="{item.f1:.6f}" data-categories="{cats}">'
            f'<div class="head"><b>{html.escape(item.name)}</b> F1 {item.f1:.3f}</div>'
            f'<img alt="ground truth and prediction" src="data:image/jpeg;base64,{item.jpeg_base64}">'
            f"{folded_text('question', item.question)}{folded_text('answer', item.answer)}</div>")


_STYLE = """body{font-family:sans-serif;margin:12px;background:#fafafa}
.summary{display:flex;flex-wrap:wrap;gap:14px;align-items:center;margin-bottom:6px}
.num{background:#fff;border:1px solid #ccc;padding:4px 10px;font-size:12px;text-align:center}.num b{font-size:20px}
.curve text{font-size:10px;fill:#555}
.grid{display:flex;flex-wrap:wrap;gap:10px}.card{width:650px;max-width:100%;background:#fff;border:1px solid #ccc;
padding:4px}.card img{max-width:100%;display:block}.head{font-size:13px}.q{font-size:11px;color:#555;
overflow-wrap:anywhere}details.q summary{cursor:pointer}
table{border-collapse:collapse;font-size:12px}td{padding:1px 8px}"""

_SCRIPT = """const grid=document.getElementById('grid'),sortSel=document.getElementById('sort'),
catSel=document.getElementById('category');
function apply(){const cards=[...grid.children];const s=sortSel.value,c=catSel.value;
cards.sort((a,b)=>s==='f1-asc'?a.dataset.f1-b.dataset.f1:s==='f1-desc'?b.dataset.f1-a.dataset.f1:a.dataset.index-b.dataset.index);
for(const card of cards){grid.appendChild(card);card.hidden=!(!c||card.dataset.categories.split('\\t').includes(c));}
document.getElementById('shown').textContent=cards.filter(x=>!x.hidden).length;}
const params=new URLSearchParams(location.hash.slice(1));
if(params.get('sort'))sortSel.value=params.get('sort');if(params.get('category')!==null)catSel.value=params.get('category')||'';
sortSel.onchange=apply;catSel.onchange=apply;apply();"""


def render_report(items: Sequence[ReportImage], title: str, metrics: Mapping[str, Any] | None = None) -> str:
    """The whole page as one HTML string."""
    categories = sorted({c for item in items for c in item.categories})
    options = "".join(f'<option value="{html.escape(c, quote=True)}">{html.escape(c)}</option>' for c in categories)
    cards = "".join(_card(i, item) for i, item in enumerate(items))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h2>{html.escape(title)}</h2>{summary_html(metrics or {})}"
            "<p>each card: ground truth (left) and prediction (right), one colour per phrase; "
            'sort <select id="sort"><option value="index">file order</option>'
            '<option value="f1-asc">F1, worst first</option><option value="f1-desc">F1, best first</option></select> '
            f'category <select id="category"><option value="">all</option>{options}</select> '
            f'<span id="shown">{len(items)}</span> of {len(items)} images</p>'
            f'<div class="grid" id="grid">{cards}</div><script>{_SCRIPT}</script></body></html>')


def write_report(path: str | Path, items: Sequence[ReportImage], title: str,
                 metrics: Mapping[str, Any] | None = None) -> None:
    """Render and write the page atomically."""
    from dataset.atomic_write import write_text_atomic

    write_text_atomic(path, render_report(items, title, metrics))

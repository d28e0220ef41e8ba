"""One self-contained HTML page per evaluation: GT vs prediction drawn on every image.

Images are embedded as base64 JPEG thumbnails and geometry as SVG in image pixels, so the page
needs no other file and no network. A small script sorts the cards by per-image F1 and filters
them by category; the initial state can be set in the URL: ``report.html#sort=f1-asc&category=dog``.
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

from evaluation.official_predictions import POINTING_TASK, TASK_LINE_NAMES, image_f1
from evaluation.task_predictions import drawable

__all__ = ["ReportImage", "render_report", "write_report"]

THUMBNAIL_SIDE = 384  # longest side of the embedded image, pixels
GT_COLOUR = "#00c853"
PRED_COLOUR = "#ff00ff"


@dataclass
class ReportImage:
    """One card: name, size, thumbnail, GT and predicted geometry (category -> xyxy boxes or xy points)."""

    name: str
    width: int
    height: int
    f1: float
    gt: dict[str, list[list[float]]]
    pred: dict[str, list[list[float]]]
    jpeg_base64: str | None = None
    question: str = ""
    answer: str = ""
    categories: list[str] = field(default_factory=list)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], image: Image.Image | None) -> ReportImage:
        """A card from one predictions JSONL line (official shape) and its image (``None``: blank)."""
        size = record.get("image_size") or ([image.width, image.height] if image is not None else [1000, 1000])
        pointing = record.get("task_name") == POINTING_TASK
        gt = record.get("gt_boxes", {}) if pointing else record["gt"]
        pred = record["extracted_predictions"]
        if record.get("task_name") in TASK_LINE_NAMES:  # GUI boxes, keypoint instances: as shapes
            gt, pred = drawable(record)
        return cls(name=str(record.get("image_path", "")), width=int(size[0]), height=int(size[1]),
                   f1=image_f1(record), gt={k: list(v) for k, v in gt.items()},
                   pred={k: [p for p in v if p is not None] for k, v in pred.items()},
                   jpeg_base64=None if image is None else thumbnail_base64(image),
                   question=str(record.get("question", "")), answer=str(record.get("raw_response", "")),
                   categories=sorted(set(gt) | set(pred)))


def thumbnail_base64(image: Image.Image) -> str:
    """The image shrunk to at most ``THUMBNAIL_SIDE`` pixels, as base64 JPEG."""
    thumb = image.convert("RGB")
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    thumb.save(buffer, "JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _shape(category: str, geometry: Sequence[float], colour: str, stroke: float, dashed: bool, font: float) -> str:
    cat = html.escape(category, quote=True)
    dash = f' stroke-dasharray="{2 * stroke:g}"' if dashed else ""
    if len(geometry) == 4:
        x0, y0, x1, y1 = (float(v) for v in geometry)
        return (f'<g data-category="{cat}"><rect x="{min(x0, x1):.1f}" y="{min(y0, y1):.1f}" '
                f'width="{abs(x1 - x0):.1f}" height="{abs(y1 - y0):.1f}" fill="none" stroke="{colour}" '
                f'stroke-width="{stroke:g}"{dash}/><text x="{min(x0, x1) + stroke:.1f}" y="{min(y0, y1) + font:.1f}" '
                f'fill="{colour}" font-size="{font:g}">{cat}</text></g>')
    if len(geometry) >= 6:  # a polygon (OCR text lines), labelled at its first vertex
        points = " ".join(f"{float(x):.1f},{float(y):.1f}" for x, y in zip(geometry[0::2], geometry[1::2]))
        return (f'<g data-category="{cat}"><polygon points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="{stroke:g}"{dash}/><text x="{float(geometry[0]):.1f}" y="{float(geometry[1]):.1f}" '
                f'fill="{colour}" font-size="{font:g}">{cat}</text></g>')
    x, y = float(geometry[0]), float(geometry[1])
    return (f'<g data-category="{cat}"><circle cx="{x:.1f}" cy="{y:.1f}" r="{2 * stroke:g}" fill="{colour}" '
            f'stroke="white" stroke-width="{stroke / 2:g}"/></g>')


def _card(index: int, item: ReportImage) -> str:
    stroke = max(item.width, item.height) / 200
    font = max(item.width, item.height) / 22  # about 14 px on the 300 px card
    image = (f'<image href="data:image/jpeg;base64,{item.jpeg_base64}" x="0" y="0" width="{item.width}" '
             f'height="{item.height}" preserveAspectRatio="none"/>' if item.jpeg_base64
             else f'<rect width="{item.width}" height="{item.height}" fill="#444"/>')
    shapes = [_shape(c, g, GT_COLOUR, stroke, False, font) for c, items in item.gt.items() for g in items]
    shapes += [_shape(c, g, PRED_COLOUR, stroke * 1.5, True, font) for c, items in item.pred.items() for g in items]
    cats = html.escape("\t".join(item.categories), quote=True)
    return (f'<div class="card" data-index="{index}" data-f1="{item.f1:.6f}" data-categories="{cats}">'
            f'<div class="head"><b>{html.escape(item.name)}</b> F1 {item.f1:.3f}</div>'
            f'<svg viewBox="0 0 {item.width} {item.height}">{image}{"".join(shapes)}</svg>'
            f'<div class="q">{html.escape(item.question)}</div>'
            f'<div class="q">answer: {html.escape(item.answer[:300])}</div></div>')


_STYLE = """body{font-family:sans-serif;margin:12px;background:#fafafa}
.grid{display:flex;flex-wrap:wrap;gap:10px}.card{width:300px;background:#fff;border:1px solid #ccc;padding:4px}
.card svg{width:100%;height:auto;display:block}.head{font-size:13px}.q{font-size:11px;color:#555}
table{border-collapse:collapse;font-size:12px}td{padding:1px 8px}.legend span{padding:0 6px}"""

_SCRIPT = """const grid=document.getElementById('grid'),sortSel=document.getElementById('sort'),
catSel=document.getElementById('category');
function apply(){const cards=[...grid.children];const s=sortSel.value,c=catSel.value;
cards.sort((a,b)=>s==='f1-asc'?a.dataset.f1-b.dataset.f1:s==='f1-desc'?b.dataset.f1-a.dataset.f1:a.dataset.index-b.dataset.index);
for(const card of cards){grid.appendChild(card);const has=!c||card.dataset.categories.split('\\t').includes(c);
card.hidden=!has;for(const g of card.querySelectorAll('g[data-category]'))g.style.display=(!c||g.dataset.category===c)?'':'none';}
document.getElementById('shown').textContent=cards.filter(x=>!x.hidden).length;}
const params=new URLSearchParams(location.hash.slice(1));
if(params.get('sort'))sortSel.value=params.get('sort');if(params.get('category')!==null)catSel.value=params.get('category')||'';
sortSel.onchange=apply;catSel.onchange=apply;apply();"""


def render_report(items: Sequence[ReportImage], title: str, metrics: Mapping[str, Any] | None = None) -> str:
    """The whole page as one HTML string."""
    categories = sorted({c for item in items for c in item.categories})
    options = "".join(f'<option value="{html.escape(c, quote=True)}">{html.escape(c)}</option>' for c in categories)
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{v:.4f}</td></tr>" if isinstance(v, float)
                   else f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in (metrics or {}).items())
    cards = "".join(_card(i, item) for i, item in enumerate(items))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h2>{html.escape(title)}</h2>"
            f"<table>{rows}</table><p class=\"legend\"><span style=\"color:{GT_COLOUR}\">&#9632; ground truth</span>"
            f"<span style=\"color:{PRED_COLOUR}\">&#9632; prediction (dashed)</span></p>"
            '<p>sort <select id="sort"><option value="index">file order</option>'
            '<option value="f1-asc">F1, worst first</option><option value="f1-desc">F1, best first</option></select> '
            f'category <select id="category"><option value="">all</option>{options}</select> '
            f'<span id="shown">{len(items)}</span> of {len(items)} images</p>'
            f'<div class="grid" id="grid">{cards}</div><script>{_SCRIPT}</script></body></html>')


def write_report(path: str | Path, items: Sequence[ReportImage], title: str,
                 metrics: Mapping[str, Any] | None = None) -> None:
    """Render and write the page atomically."""
    from dataset.atomic_write import write_text_atomic

    write_text_atomic(path, render_report(items, title, metrics))

"""The report's data page: what the prepared cache holds and what preparation left out, with photos.

Read from the cache the sweep trained on (sweep.json's `cache_path`): its report.json (images per class
and split, excluded files with reasons, duplicates and leakage between splits) and a few training images
per class, embedded as small JPEG data URIs so the page opens offline. Bounded: SAMPLES_PER_CLASS
thumbnails of THUMB_PX per class, at most EXCLUDED_ROWS excluded files listed (the counts cover all).
"""
from __future__ import annotations

import base64
import html
import io
import logging
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from data_pipeline.cache import PreparedData, open_cache
from data_pipeline.sources import DUPLICATE, LEAKAGE, DataError
from results.balance import ClassCounts

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
SAMPLES_PER_CLASS = 4
THUMB_PX = 80
JPEG_QUALITY = 80
EXCLUDED_ROWS = 50


def thumbnail_uri(pixels: np.ndarray, size: int = THUMB_PX) -> str:
    """A (H, W, 3) uint8 image as a `data:image/jpeg;base64,...` URI of at most size x size pixels."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    image.thumbnail((size, size))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def sample_indices(labels: np.ndarray, classes: int, per_class: int = SAMPLES_PER_CLASS) -> list[np.ndarray]:
    """The first `per_class` positions of each class in split order (deterministic: the same report each time)."""
    labels = np.asarray(labels)
    return [np.flatnonzero(labels == k)[:per_class] for k in range(classes)]


def open_report_cache(cache_path: str) -> Optional[PreparedData]:
    """The prepared cache the sweep trained on, or None (logged) when it cannot be opened: the report then
    leaves out its photo pages (the data page, the gallery of confusions) and still renders."""
    try:
        return open_cache(cache_path)
    except (DataError, OSError) as err:
        log.warning("prepared cache %s cannot be read (%s); the report's photo pages are left out", cache_path, err)
        return None


def data_page_html(cache_path: str, counts: Optional[ClassCounts] = None) -> Optional[str]:
    """The data page's HTML, or None when the cache cannot be opened (then the report says so)."""
    data = open_report_cache(cache_path)
    if data is None:
        return None
    report = data.report or {}
    parts = ["<h3>Data: the prepared cache</h3>",
             f"<p class='meta'>{html.escape(str(report.get('source', '')))}, {data.image_size} px, "
             f"key {html.escape(data.key)}</p>",
             _counts_table(data.classes, report.get("splits") or {}, counts),
             _sample_grid(data), _excluded_html(report)]
    return f"<div class='data-page'>{''.join(parts)}</div>"


def _counts_table(classes: Sequence[str], splits: Mapping[str, Mapping[str, int]],
                  counts: Optional[ClassCounts]) -> str:
    after = dict(zip(counts.classes, counts.after)) if counts else {}
    head = "".join(f"<th>{s}</th>" for s in SPLITS) + ("<th>train per epoch after balancing</th>" if after else "")
    rows = []
    for name in classes:
        cells = "".join(f"<td class=num>{int((splits.get(s) or {}).get(name, 0))}</td>" for s in SPLITS)
        if after:
            cells += f"<td class=num>{after.get(name, 0):.0f}</td>"
        rows.append(f"<tr><td>{html.escape(name)}</td>{cells}</tr>")
    return (f"<h4>Images per class and split</h4><table class='class-counts'><thead><tr><th>class</th>{head}</tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def _sample_grid(data: PreparedData) -> str:
    split = data.split("train")
    cells = []
    for k, idx in enumerate(sample_indices(split.labels, len(data.classes))):
        thumbs = "".join(f"<img class='thumb' alt='{html.escape(data.classes[k])}' "
                         f"title='{html.escape(split.paths[i])}' src='{thumbnail_uri(split.images[i])}'>"
                         for i in idx.tolist())
        cells.append(f"<div class='sample-class'><b>{html.escape(data.classes[k])}</b><br>{thumbs}</div>")
    return (f"<h4>Training samples ({SAMPLES_PER_CLASS} per class, {THUMB_PX} px)</h4>"
            f"<div class='sample-grid'>{''.join(cells)}</div>")


def _excluded_html(report: Mapping[str, Any]) -> str:
    excluded = report.get("excluded") or []
    counts = report.get("excluded_counts") or {}
    summary = ", ".join(f"{html.escape(r)} {n}" for r, n in counts.items()) or "none"
    found = {r: counts.get(r, 0) for r in (DUPLICATE, LEAKAGE)}
    rows = "".join(f"<tr><td>{html.escape(str(e.get('path')))}</td><td>{html.escape(str(e.get('reason')))}</td>"
                   f"<td>{html.escape(str(e.get('detail') or ''))}</td></tr>" for e in excluded[:EXCLUDED_ROWS])
    more = f"<p>... and {len(excluded) - EXCLUDED_ROWS} more</p>" if len(excluded) > EXCLUDED_ROWS else ""
    table = (f"<table class='excluded'><thead><tr><th>file</th><th>reason</th><th>detail</th></tr></thead>"
             f"<tbody>{rows}</tbody></table>{more}") if excluded else ""
    return (f"<h4>Excluded at preparation</h4><p>{summary}; duplicates within a split {found[DUPLICATE]}, "
            f"copies across splits (leakage) {found[LEAKAGE]}</p>{table}")

"""results.data_page: thumbnails, the per-class sample choice and the page from a real prepared cache."""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from results.data_page import EXCLUDED_ROWS, THUMB_PX, data_page_html, sample_indices, thumbnail_uri


def test_thumbnail_is_a_bounded_jpeg():
    pixels = np.random.default_rng(0).integers(0, 255, size=(200, 120, 3), dtype=np.uint8)
    uri = thumbnail_uri(pixels)
    assert uri.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.format == "JPEG" and max(image.size) == THUMB_PX and image.size[1] == THUMB_PX


def test_sample_indices_first_of_each_class():
    labels = np.array([2, 0, 0, 1, 0, 2, 0, 0])
    got = sample_indices(labels, 4, per_class=3)
    assert [g.tolist() for g in got] == [[1, 2, 4], [3], [0, 5], []]


def test_data_page_from_real_cache(small_cache):
    page = data_page_html(small_cache.path)
    assert page is not None and page.count("<img class='thumb'") == 4 * len(small_cache.classes)
    report = small_cache.report
    for name in small_cache.classes:
        assert f"<td>{name}</td>" in page
    assert "duplicates within a split" in page and "leakage" in page
    assert page.count("<tr><td>") <= len(small_cache.classes) + EXCLUDED_ROWS
    assert len(page) < 400_000  # bounded: thumbnails are capped
    assert report.get("excluded_counts") is None or all(r in page for r in report["excluded_counts"])


def test_data_page_without_cache(tmp_path):
    assert data_page_html(str(tmp_path / "nowhere")) is None

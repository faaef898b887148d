"""Small image trees with every kind of bad file, generated with PIL in tmp folders."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIDE = 48
"""Side of the good test images; the bomb image is bigger than BOMB_LIMIT pixels, the good ones are not."""
BOMB_LIMIT = 5000


def noise_image(seed: int, size=(SIDE, SIDE), mode="RGB") -> Image.Image:
    """A distinct random image (so no two test images share bytes by accident)."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)


def write_good(folder: Path, count: int, seed: int, ext: str = "png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img{i:02d}.{ext}"
        noise_image(seed * 1000 + i).save(path)
        paths.append(path)
    return paths


def write_bad_files(folder: Path) -> dict[str, str]:
    """Every kind of problem file in one class folder; returns {file name: expected outcome}."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.jpg").write_bytes(b"")
    good_jpeg = folder / "full.jpg"
    noise_image(7, (64, 64)).save(good_jpeg, quality=90)
    data = good_jpeg.read_bytes()
    good_jpeg.unlink()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "text.jpg").write_text("this is not an image\n")
    noise_image(8, mode="RGBA").save(folder / "alpha.png")
    Image.new("CMYK", (SIDE, SIDE), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    Image.fromarray(np.full((SIDE, SIDE), 40000, np.uint16)).save(folder / "gray16.png")
    noise_image(9, mode="L").save(folder / "gray.png")
    noise_image(10).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    noise_image(11, (90, 90)).save(folder / "bomb.png")
    noise_image(12, (10, 10)).save(folder / "tiny.png")
    raw_name = os.fsencode(str(folder)) + b"/caf\xe9.png"  # Latin-1 byte, invalid UTF-8
    noise_image(13).save(os.fsdecode(raw_name), format="PNG")
    return {"zero.jpg": "not an image", "truncated.jpg": "truncated", "text.jpg": "not an image",
            "bomb.png": "decompression bomb", "tiny.png": "too small", "alpha.png": "ok", "cmyk.jpg": "ok",
            "gray16.png": "ok", "gray.png": "ok", "palette.png": "ok", "caf\\xe9.png": "ok"}


@pytest.fixture
def messy_tree(tmp_path) -> Path:
    """ROOT/<class>/<img>: class a with every bad file, class b with duplicates, class c with one image."""
    root = tmp_path / "messy"
    a = write_good(root / "a", 6, seed=1)
    write_bad_files(root / "a")
    b = write_good(root / "b", 6, seed=2)
    (root / "b" / "copy_of_b0.png").write_bytes(b[0].read_bytes())  # duplicate within a class
    (root / "b" / "copy_of_a0.png").write_bytes(a[0].read_bytes())  # same image under two labels
    write_good(root / "c", 1, seed=3)
    (root / "README.txt").write_text("not data\n")
    return root

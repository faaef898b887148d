"""Decoding one file: conversions to RGB, EXIF orientation, and the reason a bad file is excluded."""
from __future__ import annotations

import numpy as np
from PIL import Image

from data_pipeline.scan import DecodeParams, decode_file
from tests.data_pipeline.conftest import BOMB_LIMIT, SIDE, write_bad_files

PARAMS = DecodeParams(image_size=32, min_side=16, max_pixels=10**8)
STRICT = DecodeParams(image_size=32, min_side=16, max_pixels=BOMB_LIMIT)


def _pixels(result) -> np.ndarray:
    assert result.pixels is not None, (result.reason, result.detail)
    return np.frombuffer(result.pixels, np.uint8).reshape(32, 32, 3)


def test_each_bad_file_gets_its_reason(tmp_path):
    expected = write_bad_files(tmp_path)
    for name, outcome in expected.items():
        if name.startswith("caf"):
            continue
        result = decode_file(str(tmp_path / name), STRICT)
        got = "ok" if result.pixels is not None else result.reason
        assert got == outcome, f"{name}: {got} ({result.detail})"


def test_missing_file_is_reported_not_raised(tmp_path):
    assert decode_file(str(tmp_path / "nope.jpg"), PARAMS).reason == "missing"


def test_16bit_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((SIDE, SIDE), 40000, np.uint16)).save(tmp_path / "g16.png")
    px = _pixels(decode_file(str(tmp_path / "g16.png"), PARAMS))
    assert np.all(np.abs(px.astype(int) - round(40000 / 257)) <= 1)


def test_cmyk_and_transparency_become_rgb(tmp_path):
    Image.new("CMYK", (SIDE, SIDE), (0, 255, 255, 0)).save(tmp_path / "red.jpg")
    red = _pixels(decode_file(str(tmp_path / "red.jpg"), PARAMS)).reshape(-1, 3).mean(0)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60, red
    Image.new("RGBA", (SIDE, SIDE), (10, 20, 30, 0)).save(tmp_path / "clear.png")
    assert np.all(_pixels(decode_file(str(tmp_path / "clear.png"), PARAMS)) == 255)  # composited on white


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (80, 40), (255, 0, 0))
    img.paste((0, 0, 255), (40, 0, 80, 40))  # stored: left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: left edge goes to the top
    img.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    px = _pixels(decode_file(str(tmp_path / "rot.jpg"), PARAMS)).astype(int)
    assert px[3, 16, 0] > 200 and px[3, 16, 2] < 60, "top should be red"
    assert px[28, 16, 2] > 200 and px[28, 16, 0] < 60, "bottom should be blue"


def test_shorter_side_resized_then_center_cropped(tmp_path):
    img = Image.new("RGB", (96, 64), (0, 255, 0))
    img.paste((255, 0, 0), (0, 0, 8, 64))  # a red band at the left edge is cropped away
    img.save(tmp_path / "wide.png")
    px = _pixels(decode_file(str(tmp_path / "wide.png"), PARAMS))
    assert np.all(px[..., 1] == 255) and np.all(px[..., 0] == 0)

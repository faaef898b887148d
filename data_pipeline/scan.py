"""Validate and decode each image exactly once: read its bytes, hash them, decode, convert to RGB, resize.

This module runs inside the decode worker processes, so it imports only PIL and numpy (no torch).
A bad file never raises: `decode_file` returns the reason it is excluded.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Iterator, Optional, Sequence

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from data_pipeline.sources import BOMB, MISSING, NOT_IMAGE, TOO_SMALL, TRUNCATED, UNREADABLE

INLINE_BELOW = 48
"""Fewer files than this are decoded in-process: starting workers would cost more than it saves."""


@dataclass(frozen=True)
class DecodeParams:
    """What every worker needs to turn a file into a cache row."""

    image_size: int
    min_side: int
    max_pixels: int

    @property
    def max_bytes(self) -> int:
        """Larger files are refused unread: no image within max_pixels needs more than 8 bytes a pixel
        (16-bit RGBA, uncompressed) plus 1 MiB of metadata, and reading a file whole comes before PIL's check."""
        return 8 * self.max_pixels + (1 << 20)


@dataclass(frozen=True)
class Decoded:
    """The outcome for one file: pixels and content hash, or the reason it is excluded."""

    pixels: Optional[bytes]
    """image_size x image_size x 3 uint8, row-major; None when excluded."""
    digest: str = ""
    reason: str = ""
    detail: str = ""


def decode_file(path: str, params: DecodeParams) -> Decoded:
    """Decode one file into a square RGB uint8 image, or say why it is excluded."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > params.max_bytes:
                return Decoded(None, reason=BOMB, detail=f"file is {size} bytes, over the limit of {params.max_bytes} "
                                                         "for images within data.max_image_pixels; not read")
            data = fh.read(params.max_bytes + 1)
    except FileNotFoundError:
        return Decoded(None, reason=MISSING, detail="vanished after listing")
    except OSError as err:
        return Decoded(None, reason=UNREADABLE, detail=str(err.strerror or err))
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    if not data:
        return Decoded(None, digest, NOT_IMAGE, "empty file (0 bytes)")
    try:
        img = _decode(data, params)
    except _Excluded as ex:
        return Decoded(None, digest, ex.reason, ex.detail)
    return Decoded(np.ascontiguousarray(img).tobytes(), digest)


class _Excluded(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _decode(data: bytes, params: DecodeParams) -> np.ndarray:
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:
        raise _Excluded(BOMB, str(err)) from None
    except (UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise _Excluded(NOT_IMAGE, str(err).splitlines()[0] if str(err) else type(err).__name__) from None
    except OSError as err:
        raise _Excluded(UNREADABLE, str(err)) from None
    w, h = img.size
    if w * h > params.max_pixels:
        raise _Excluded(BOMB, f"{w}x{h} = {w * h} pixels, over the limit of {params.max_pixels}")
    if min(w, h) < params.min_side:
        raise _Excluded(TOO_SMALL, f"{w}x{h}, shorter side below {params.min_side}")
    img.draft(img.mode if img.mode in ("RGB", "L") else None, (params.image_size, params.image_size))
    try:
        img.load()
    except OSError as err:
        reason = TRUNCATED if "truncat" in str(err).lower() or "broken" in str(err).lower() else UNREADABLE
        raise _Excluded(reason, str(err)) from None
    except (SyntaxError, ValueError, EOFError) as err:
        raise _Excluded(TRUNCATED if isinstance(err, EOFError) else UNREADABLE, str(err) or type(err).__name__) from None
    img = to_rgb(ImageOps.exif_transpose(img))
    return np.asarray(square_resize(img, params.image_size), dtype=np.uint8)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB from any mode: 16/32-bit and float scaled to 8 bits, transparency composited on white."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        peak = float(arr.max(initial=0))
        if img.mode == "F":
            scale = 255.0 / max(peak, 1e-12)
        else:  # integer images: 16-bit range when any value needs it, else already 8-bit values
            scale = 255.0 / 65535.0 if peak > 255 else 1.0
        img = Image.fromarray(np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def square_resize(img: Image.Image, size: int) -> Image.Image:
    """Shorter side resized to `size`, then the centre `size` x `size` square (antialiased bilinear)."""
    return ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR, centering=(0.5, 0.5))


def _decode_path(args: tuple[str, DecodeParams]) -> Decoded:
    return decode_file(*args)


def decode_many(paths: Sequence[str], params: DecodeParams, *, workers: Optional[int] = None,
                progress: bool = True) -> Iterator[Decoded]:
    """Decode files in order, on `workers` processes (default: every core), with a tqdm bar."""
    from tqdm.auto import tqdm

    workers = workers or os.cpu_count() or 1
    tasks = [(p, params) for p in paths]
    bar = tqdm(total=len(tasks), desc="decode", unit="img", disable=not progress, leave=False)
    try:
        if workers <= 1 or len(tasks) < INLINE_BELOW:
            for task in tasks:
                yield _decode_path(task)
                bar.update()
            return
        # forkserver: the parent may hold torch / Ray threads that a plain fork would copy mid-lock.
        with ProcessPoolExecutor(workers, mp_context=get_context("forkserver")) as pool:
            for result in pool.map(_decode_path, tasks, chunksize=max(1, min(32, len(tasks) // (workers * 8)))):
                yield result
                bar.update()
    finally:
        bar.close()

"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The temporary file sits beside the target (same filesystem, so the rename is atomic) under a name unique
to the process and the call, so two processes writing the same file never collide on the temporary.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically, creating its folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, **dumps: Any) -> Path:
    """Write `obj` as JSON to `path` atomically (`dumps` go to `json.dumps`, e.g. indent=1)."""
    return write_bytes(path, json.dumps(obj, **dumps).encode("utf-8"))


def temporary_beside(path: str | Path) -> Path:
    """A unique temporary name beside `path`, for writers that need a file name (torch.save, ONNX export);
    the caller moves it into place with `os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")

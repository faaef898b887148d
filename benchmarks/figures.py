"""docs/benchmarks.json: every benchmark's figures, machine-readable, beside its section of docs/BENCHMARKS.md.

One key per benchmark (`accuracy`, `search_efficiency`, `slot_use`, `trial_overhead`, `scale`, ...). A benchmark
replaces its own key only, so running one benchmark keeps the others' figures; each entry carries the command,
the date and the machine it was measured with.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any, Mapping

from core import atomic

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.json"


def write_figures(key: str, figures: Mapping[str, Any], *, command: str, path: Path = FIGURES) -> dict:
    """Merge `figures` into `path` under `key`, stamped with `command`, today's date and this machine."""
    entry = {"command": command, "date": dt.date.today().isoformat(), "machine": machine(), **figures}
    everything = read_figures(path)
    everything[key] = entry
    atomic.write_text(path, json.dumps(everything, indent=2, sort_keys=True, default=_plain) + "\n")
    return entry


def read_figures(path: Path = FIGURES) -> dict:
    """Every benchmark's figures so far ({} before the first)."""
    return json.loads(path.read_text()) if path.exists() else {}


def machine() -> str:
    """The machine in a few words: CPU count, processor, Python."""
    return f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python {platform.python_version()}"


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

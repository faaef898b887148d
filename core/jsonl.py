"""Append-only JSON-lines logs (`epochs.jsonl`): read what parses, and repair what a kill or a full disk leaves.

A process killed mid-append, or an append that met a full disk, leaves a last line without its newline;
the next append would glue its own line onto it and lose both. `repair` cuts such a tail and drops lines
that do not parse, so appending can go on.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from core import atomic

logger = logging.getLogger(__name__)


def parse_lines(text: str) -> tuple[list[dict], int]:
    """The JSON objects of `text`, one per line, and how many lines did not parse (torn or foreign)."""
    rows, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def repair(path: str | Path) -> list[dict]:
    """The rows of the log at `path`, rewritten (atomically) without a torn tail or broken lines if it has any."""
    path = Path(path)
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    rows, bad = parse_lines(text)
    if bad or (text and not text.endswith("\n")):
        logger.warning("warning: %s: dropped %d broken line(s) (a write cut short by a kill or a full disk)",
                       path, bad)
        atomic.write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
    return rows

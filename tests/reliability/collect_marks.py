"""A pytest plugin for tests/reliability/test_matrix.py: after collection, write what each test is marked.

    pytest --collect-only -q -p tests.reliability.collect_marks FILES...   (EDGETUNE_MARKS_OUT=path.json)

For each collected item: file, function name, parameter id, and whether a skip, a true skipif or an xfail
mark applies to it (evaluated as pytest itself does before running it).
"""
from __future__ import annotations

import json
import os

from _pytest.skipping import evaluate_skip_marks, evaluate_xfail_marks


def pytest_collection_finish(session) -> None:
    items = []
    for item in session.items:
        skip, xfail = evaluate_skip_marks(item), evaluate_xfail_marks(item)
        items.append({"file": item.nodeid.split("::", 1)[0], "name": getattr(item, "originalname", item.name),
                      "id": item.nodeid, "skip": skip.reason if skip else None,
                      "xfail": (xfail.reason or "xfail") if xfail else None})
    with open(os.environ["EDGETUNE_MARKS_OUT"], "w", encoding="utf-8") as f:
        json.dump(items, f)

"""The tests docs/RELIABILITY.md cites, read from the page: `file::name` (SF:: is the sweep-fault file) and CC[case]."""
from __future__ import annotations

import os
import re
from pathlib import Path

from tests.conftest import ROOT

DOC = Path(os.environ.get("EDGETUNE_RELIABILITY_DOC", ROOT / "docs" / "RELIABILITY.md"))
"""The page; test_matrix points a pytest run at a made-up page to prove that a cited skip fails the session."""
ALIASES = {"SF": "tests/reliability/test_sweep_faults.py"}
CONFIG_CASES = ("tests/reliability/test_config_cases.py", "test_bad_config_exits_2_with_one_line_before_any_work")
"""What `CC[case]` stands for."""


def cited_tests(text: str | None = None) -> set[tuple[str, str]]:
    """(file, function) of every test the page cites."""
    text = DOC.read_text() if text is None else text
    named = {(ALIASES.get(f, f), n) for f, n in re.findall(r"`?((?:tests/[\w/]+\.py)|SF)::(\w+)", text)}
    if re.search(r"CC\[[\w-]+\]", text):
        named.add(CONFIG_CASES)
    return named


def cited_case_ids(text: str | None = None) -> set[str]:
    return set(re.findall(r"CC\[([\w-]+)\]", DOC.read_text() if text is None else text))

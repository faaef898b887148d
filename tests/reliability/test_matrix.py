"""docs/RELIABILITY.md names only tests that exist: every `file::name` and every config case id."""
from __future__ import annotations

import ast
import re

from tests.conftest import ROOT
from tests.reliability.test_config_cases import CASES

DOC = ROOT / "docs" / "RELIABILITY.md"
ALIASES = {"SF": "tests/reliability/test_sweep_faults.py"}


def _functions(path) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_named_test_exists():
    text = DOC.read_text()
    named = re.findall(r"`?((?:tests/[\w/]+\.py)|SF)::(\w+)", text)
    assert len(named) > 40
    missing = [f"{f}::{n}" for f, n in named if n not in _functions(ALIASES.get(f, f))]
    assert not missing, missing


def test_every_config_case_id_exists_and_every_case_is_listed():
    text = DOC.read_text()
    ids = set(re.findall(r"CC\[([\w-]+)\]", text))
    known = {case[0] for case in CASES}
    assert ids <= known, ids - known
    assert known <= ids, f"config cases missing from the table: {known - ids}"


def test_enough_cases_per_section():
    text = DOC.read_text()
    rows = {prefix: len(re.findall(rf"^\| {prefix}\d+ \|", text, flags=re.M)) for prefix in "CDTPS"}
    assert rows["C"] >= 15 and rows["D"] >= 10 and rows["T"] >= 4 and rows["P"] >= 4 and rows["S"] >= 3, rows

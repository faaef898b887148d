"""docs/RELIABILITY.md marks nothing as tested that is not: every cited test exists, is collected, and is not
marked skip or xfail; the suite fails when a cited test skips or xfails at run time (tests/conftest.py)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.reliability.matrix import DOC, cited_case_ids, cited_tests
from tests.reliability.test_config_cases import CASES


def collected_marks(files: list[str], tmp_path) -> list[dict]:
    """pytest's own collection of `files`, with the skip / xfail marks it would apply (collect_marks plugin)."""
    out = tmp_path / "marks.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "tests.reliability.collect_marks",
                           "-p", "no:cacheprovider", *files], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "EDGETUNE_MARKS_OUT": str(out)})
    assert out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def untested(cited: set[tuple[str, str]], items: list[dict]) -> list[str]:
    """Each cited test that pytest does not collect, or that a skip / xfail mark keeps from proving its row."""
    problems = []
    for file, name in sorted(cited):
        found = [i for i in items if i["file"] == file and i["name"] == name]
        if not found:
            problems.append(f"{file}::{name}: not collected")
        for item in found:
            if item["skip"] or item["xfail"]:
                problems.append(f"{item['id']}: marked {'skip' if item['skip'] else 'xfail'} "
                                f"({item['skip'] or item['xfail']})")
    return problems


@pytest.mark.integration
def test_every_cited_test_is_collected_and_not_skipped_or_xfail(tmp_path):
    cited = cited_tests()
    assert len(cited) > 40
    missing = sorted({f for f, _ in cited if not (ROOT / f).is_file()})
    assert not missing, missing
    problems = untested(cited, collected_marks(sorted({f for f, _ in cited}), tmp_path))
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_missing_a_skipped_and_an_xfail_test(tmp_path):
    module = ROOT / "tests" / "reliability" / f"test_zz_matrix_probe_{tmp_path.name}.py"
    module.write_text("import pytest\n\n@pytest.mark.skip(reason='later')\ndef test_skipped():\n    pass\n\n"
                      "@pytest.mark.xfail\ndef test_xfailed():\n    assert False\n\n"
                      "@pytest.mark.skipif(True, reason='never here')\n@pytest.mark.parametrize('x', [1, 2])\n"
                      "def test_skipif(x):\n    pass\n\ndef test_fine():\n    pass\n")
    try:
        rel = module.relative_to(ROOT).as_posix()
        cited = {(rel, n) for n in ("test_skipped", "test_xfailed", "test_skipif", "test_fine", "test_gone")}
        problems = untested(cited, collected_marks([rel], tmp_path))
    finally:
        module.unlink()
    assert len(problems) == 5, problems  # two skipif items, one skip, one xfail, one not collected
    assert not [p for p in problems if "test_fine" in p]


@pytest.mark.parametrize(("ci", "exit_code"), [("true", 1), ("", 0)])
def test_a_cited_test_that_skips_at_run_time_fails_the_session_under_ci(tmp_path, ci, exit_code):
    """Under CI a cited test that skips fails the session; elsewhere (no root, say) it is named as a warning."""
    module = ROOT / "tests" / "reliability" / f"test_zz_runtime_probe_{tmp_path.name}.py"
    module.write_text("import pytest\n\ndef test_cited():\n    pytest.skip('no root here')\n\n"
                      "def test_not_cited():\n    pytest.skip('fine')\n\ndef test_passes():\n    pass\n")
    rel = module.relative_to(ROOT).as_posix()
    doc = tmp_path / "RELIABILITY.md"
    doc.write_text(f"| X1 | case | what | `{rel}::test_cited`, `{rel}::test_passes` |\n")
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", rel], capture_output=True,
                              text=True, cwd=ROOT, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), "CI": ci,
                                                                     "EDGETUNE_RELIABILITY_DOC": str(doc)})
    finally:
        module.unlink()
    assert proc.returncode == exit_code, proc.stdout[-3000:]
    assert f"{rel}::test_cited (skipped: no root here)" in proc.stdout and "test_not_cited (" not in proc.stdout


def test_every_config_case_id_exists_and_every_case_is_listed():
    ids, known = cited_case_ids(), {case[0] for case in CASES}
    assert ids <= known, ids - known
    assert known <= ids, f"config cases missing from the table: {known - ids}"


def test_enough_cases_per_section():
    text = DOC.read_text()
    rows = {prefix: len(re.findall(rf"^\| {prefix}\d+ \|", text, flags=re.M)) for prefix in "CDTPSH"}
    assert rows["C"] >= 15 and rows["D"] >= 10 and rows["T"] >= 4 and rows["P"] >= 4 and rows["S"] >= 3, rows
    assert rows["H"] >= 9, rows

"""The architecture's rules, checked: data_pipeline and model never import Ray or Optuna; results needs no cluster."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "data_pipeline": {"ray", "optuna"},
    "model": {"ray", "optuna"},
    "results": {"ray"},
}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_forbidden_libraries(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_every_package_entry_has_help():
    """Each package has a `python -m <package>.<verb>` entry; --help of each is tested with its package."""
    entries = {p.parent.name + "." + p.stem for p in ROOT.glob("*/*.py") if "def main(" in p.read_text()}
    assert {"data_pipeline.prepare", "model.train", "search.run", "results.report", "results.evaluate"} <= entries

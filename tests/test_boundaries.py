"""The architecture's rules, checked over the source: which package may import which, and which libraries.

Imports run one way, from the commands at the top down to `core`:

    deploy, search     (commands: ship a model; run a sweep)
        results        (a read-only leaf: reads experiments, writes tables and reports; no torch)
    model              (EdgeNet + timm + the trainer, plain PyTorch)
    data_pipeline      (sources, splits, balancing, the prepared cache)
    core               (config schema, errors, names, layout, storage URIs, atomic writes, folders, CLI)

`cluster` stands beside them and needs only `core`. Every import counts, a lazy one inside a function too.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "data_pipeline", "model", "results", "search", "deploy", "cluster")

ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "data_pipeline": {"core"},
    "model": {"core", "data_pipeline"},
    "results": {"core", "data_pipeline", "model"},  # model.config only: the no-torch check below holds it to that
    "search": {"core", "data_pipeline", "model", "results"},
    "deploy": {"core", "data_pipeline", "model", "results"},
    "cluster": {"core"},
}
"""Package -> the project packages it may import."""

FORBIDDEN_LIBRARIES: dict[str, set[str]] = {
    "core": {"ray", "optuna", "torch", "timm", "pandas"},
    "data_pipeline": {"ray", "optuna"},
    "model": {"ray", "optuna"},
    "results": {"ray", "torch", "timm", "torchvision", "onnx", "onnxruntime"},
    "deploy": {"ray", "optuna"},
}

ALIASES = {"results/export.py": "deploy.export", "results/evaluate.py": "deploy.evaluate",
           "model/predict.py": "deploy.predict"}
"""The one exception to the table: old command spellings kept as forwarders that run a deploy entry by name.
They import nothing of the project, so they add no edge; the test below holds them to exactly that."""


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or lazily in a function; relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).parent.parts)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def package_imports() -> dict[str, dict[str, set[str]]]:
    """package -> {file: project packages it imports (other than itself)}."""
    out: dict[str, dict[str, set[str]]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tops = {name.split(".")[0] for name in imported_modules(path)}
            out.setdefault(package, {})[str(path.relative_to(ROOT))] = (tops & set(PACKAGES)) - {package}
    return out


def find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """A cycle of the graph as a path that comes back to its start; [] when there is none."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return []

    for start in sorted(edges):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return []


def test_find_cycle_sees_a_cycle_and_a_dag():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_the_packages_below_it(package):
    offenders = {f: sorted(found - ALLOWED[package]) for f, found in package_imports()[package].items()
                 if f not in ALIASES and found - ALLOWED[package]}
    assert not offenders, f"{package} may import only {sorted(ALLOWED[package])}: {offenders}"


def test_no_cycle_between_packages():
    actual = {p: set().union(*files.values()) for p, files in package_imports().items()}
    assert find_cycle(actual) == [], "package import cycle"
    assert find_cycle(ALLOWED) == [], "the table of allowed edges itself has a cycle"


@pytest.mark.parametrize("package", sorted(FORBIDDEN_LIBRARIES))
def test_package_does_not_import_forbidden_libraries(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted({m.split(".")[0] for m in imported_modules(path)}
                                            & FORBIDDEN_LIBRARIES[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_results_imports_no_torch_ray_search_or_trainer_even_indirectly():
    """Every results module, imported in a fresh process: torch and the rest must not come along."""
    modules = sorted(f"results.{p.stem}" for p in (ROOT / "results").glob("*.py")
                     if p.name != "__init__.py" and f"results/{p.name}" not in ALIASES)
    banned = ("torch", "timm", "ray", "optuna", "search", "deploy", "model.trainer")
    code = (f"import sys, {', '.join(modules)}; "
            f"print(sorted(m for m in {banned!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]", f"results pulled in {proc.stdout.strip()}"


@pytest.mark.parametrize(("alias", "target"), sorted(ALIASES.items()))
def test_aliases_only_forward(alias, target):
    path = ROOT / alias
    assert imported_modules(path) == {"runpy"}, f"{alias} must import nothing but runpy"
    assert f'runpy.run_module("{target}"' in path.read_text()
    assert (ROOT / (target.replace(".", "/") + ".py")).is_file()


def test_every_package_entry_has_help():
    """Each package has a `python -m <package>.<verb>` entry; --help of each is tested with its package."""
    entries = {p.parent.name + "." + p.stem for p in ROOT.glob("*/*.py") if "def main(" in p.read_text()}
    assert {"data_pipeline.prepare", "model.train", "search.run", "results.report", "deploy.evaluate",
            "deploy.export", "deploy.predict"} <= entries


def test_every_entry_goes_through_the_cli_runner():
    """A UserError becomes `error: ...` and exit 2 in one place (core.cli.command), not in each main."""
    for path in ROOT.glob("*/*.py"):
        text = path.read_text()
        if "def main(" in text and path.parent.name in PACKAGES and path.name != "cli.py":
            assert "@command\ndef main(" in text, f"{path.relative_to(ROOT)}: decorate main with core.cli.command"
            assert 'print(f"error: {err}"' not in text, path

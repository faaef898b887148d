"""`make bench`: run every benchmark side by side and write their sections into docs/BENCHMARKS.md."""
from __future__ import annotations

import datetime as dt
import importlib
import platform
import sys
from pathlib import Path

import torch

BENCHMARKS = (
    "benchmarks.data_path", "benchmarks.accuracy", "benchmarks.trial_overhead", "benchmarks.slot_use", "benchmarks.search_efficiency",
    "benchmarks.real_pair", "benchmarks.scale", "benchmarks.gpu_check",
)
OUT = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"


def machine() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {gpu}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    """Every benchmark, or the named ones (e.g. benchmarks.slot_use): those rewrite their own sections only."""
    names = tuple(argv if argv is not None else sys.argv[1:]) or BENCHMARKS
    if names == BENCHMARKS or not OUT.exists():
        header = (f"# Benchmarks\n\nWritten by `make bench` on {dt.date.today()} ({machine()}).\n"
                  "Ratios are measured side by side in one run; absolute times move from run to run.\n")
        kept: dict[str, str] = {}
    else:
        header, kept = split_sections(OUT.read_text())
        header = stamp(header, f"`python -m benchmarks.run_all {' '.join(names)}` re-measured its sections on "
                               f"{dt.date.today()} ({machine()}).")
    measured: dict[str, str] = {}
    for done, name in enumerate(names, start=1):
        module = importlib.import_module(name)
        print(f"== {name}", flush=True)
        section = module.main([])
        measured[heading(section)] = section
        # written after each benchmark, so an interrupted run keeps what it measured
        OUT.write_text(render(header, {**kept, **measured}, pending=names[done:]))
    print(f"wrote {OUT}")
    return 0


def render(header: str, sections: dict[str, str], pending: tuple[str, ...] = ()) -> str:
    note = [f"_Still running when this was written: {', '.join(pending)}._\n"] if pending else []
    return "\n".join(s for s in [header, *sections.values(), *note] if s)


def heading(section: str) -> str:
    return section.lstrip().split("\n", 1)[0]


def split_sections(text: str) -> tuple[str, dict[str, str]]:
    """The file's header and its `## ` sections by heading, in order (what `render` joined)."""
    header, *rest = text.split("\n## ")
    sections = ["## " + part for part in rest]
    return header.rstrip("\n") + "\n", {heading(section): section.rstrip("\n") + "\n" for section in sections}


def stamp(header: str, line: str) -> str:
    """The header with `line` appended, replacing an earlier line that names the same command."""
    command = line.split("`")[1]
    lines = [kept for kept in header.rstrip("\n").split("\n") if f"`{command}`" not in kept]
    return "\n".join([*lines, line]) + "\n"


if __name__ == "__main__":
    sys.exit(main())

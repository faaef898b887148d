"""`make bench`: run every benchmark side by side and write their sections into docs/BENCHMARKS.md."""
from __future__ import annotations

import datetime as dt
import importlib
import platform
import sys
from pathlib import Path

import torch

BENCHMARKS = (
    "benchmarks.data_path", "benchmarks.trial_overhead", "benchmarks.slot_use", "benchmarks.search_efficiency",
    "benchmarks.gpu_check",
)
OUT = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"


def machine() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {gpu}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    """Every benchmark, or the named ones (e.g. benchmarks.slot_use): those rewrite their own sections only."""
    names = (argv if argv is not None else sys.argv[1:]) or BENCHMARKS
    if names == BENCHMARKS or not OUT.exists():
        header = (f"# Benchmarks\n\nWritten by `make bench` on {dt.date.today()} ({machine()}).\n"
                  "Ratios are measured side by side in one run; absolute times move from run to run.\n")
        kept: dict[str, str] = {}
    else:
        header, kept = split_sections(OUT.read_text())
        header = header.rstrip("\n") + (f"\n`python -m benchmarks.run_all {' '.join(names)}` re-measured its sections on "
                                        f"{dt.date.today()} ({machine()}).\n")
    measured: dict[str, str] = {}
    for done, name in enumerate(names, start=1):
        module = importlib.import_module(name)
        print(f"== {name}", flush=True)
        section = module.main([])
        measured[heading(section)] = section
        pending = names[done:]  # written after each benchmark, so an interrupted run keeps what it measured
        note = [f"_Still running when this was written: {', '.join(pending)}._\n"] if pending else []
        sections = {**kept, **measured}.values() if kept else measured.values()
        OUT.write_text("\n".join(s for s in [header, *sections, *note] if s))
    print(f"wrote {OUT}")
    return 0


def heading(section: str) -> str:
    return section.lstrip().split("\n", 1)[0]


def split_sections(text: str) -> tuple[str, dict[str, str]]:
    """The file's header and its `## ` sections by heading, in order."""
    header, *rest = text.split("\n## ")
    sections = ["## " + part for part in rest]
    return header + "\n", {heading(section): section.rstrip("\n") + "\n" for section in sections}


if __name__ == "__main__":
    sys.exit(main())

"""`make bench`'s writer: re-measuring one benchmark rewrites its section and keeps the others."""
from __future__ import annotations

from benchmarks.run_all import render, split_sections, stamp

HEADER = "# Benchmarks\n\nWritten by `make bench` on 2026-11-27.\n"
SECTIONS = {"## Data path": "## Data path\n\n| a | 1 |\n", "## Slot use": "## Slot use\n\nold figures\n"}


def test_sections_round_trip_through_the_file():
    assert split_sections(render(HEADER, SECTIONS)) == (HEADER, SECTIONS)


def test_a_rerun_replaces_its_section_in_place_and_its_header_line():
    header, kept = split_sections(render(HEADER, SECTIONS))
    line = "`python -m benchmarks.run_all benchmarks.slot_use` re-measured its sections on 2026-11-28."
    header = stamp(stamp(header, line.replace("28", "27")), line)
    text = render(header, {**kept, "## Slot use": "## Slot use\n\nnew figures\n"})
    assert text.index("## Data path") < text.index("## Slot use") and "old figures" not in text
    assert text.count("benchmarks.slot_use`") == 1 and "on 2026-11-28." in text
    assert "| a | 1 |" in text


def test_an_interrupted_run_names_what_is_still_running():
    text = render(HEADER, SECTIONS, pending=("benchmarks.search_efficiency",))
    assert text.rstrip().endswith("_Still running when this was written: benchmarks.search_efficiency._")

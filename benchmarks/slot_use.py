"""Slot use: how much of the cluster a 16-trial sweep keeps training, and how soon it starts training.

Target: slot use >= 0.90, where slot use = the time trials spend training and measuring (the sum of every
epoch's `epoch_time_s`: optimisation pass plus validation) / (slots x the command's wall time). Setup is not
counted as use: each trial's time before its first epoch (imports, model build, restore) and the gaps between
one trial ending and the next starting in its slot are reported separately. Slots = CPUs / resources.cpu.
Measured twice, side by side: with the data cache cold (a fresh cache_dir: decoding is part of the command)
and warm (the same cache_dir again). The scale is set on the command line (`--trials`, `--slots`,
`--max-epochs`, `--set key=value` for the sweep config); defaults are the cheap smoke scale.
Run: python -m benchmarks.slot_use [--trials 16 --slots 2 --max-epochs 3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Sequence

from benchmarks.figures import write_figures
from benchmarks.sweeps import ROOT, SCALE, Sweep, run_sweep

TRIALS, SLOTS, MAX_EPOCHS = 16, 2, 3
TARGET = 0.90


def slot_use(epochs: Iterable[dict], slots: int, wall_s: float) -> float:
    """Training and measuring time over slots x command wall time (setup, gaps and the driver count as idle)."""
    return training_seconds(epochs) / (slots * wall_s)


def training_seconds(epochs: Iterable[dict]) -> float:
    """The time trials spent training and measuring: every reported epoch's `epoch_time_s`."""
    return float(sum(row["epoch_time_s"] for row in epochs if row.get("epoch_time_s") is not None))


def setup_seconds(epochs: Iterable[dict]) -> list[float]:
    """Each trial's time before its first epoch started (imports, model build): the first report's
    `time_this_iter_s` less that epoch's own `epoch_time_s`."""
    return [row["time_this_iter_s"] - row["epoch_time_s"] for row in epochs
            if row.get("iterations_since_restore") == 1 and row.get("epoch_time_s") is not None]


def slot_gaps(starts: Sequence[float], ends: Sequence[float], slots: int) -> list[float]:
    """A trial that starts after the first `slots` takes the slot the k-th ending trial freed: the time
    between that end and this start is the slot standing empty."""
    return [start - end for start, end in zip(sorted(starts)[slots:], sorted(ends))]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / max(1, len(values))


def figures(sweep: Sweep, slots: int) -> dict:
    trials = sweep.collected.trials
    starts, ends = trials["started_ts"].astype(float).tolist(), trials["ended_ts"].astype(float).tolist()
    first_batch = min(row["first_batch_ts"] for row in sweep.epochs if row.get("first_batch_ts"))
    setups = setup_seconds(sweep.epochs)
    return {
        "wall_s": sweep.wall_s,
        "training_s": training_seconds(sweep.epochs),
        "slot_use": slot_use(sweep.epochs, slots, sweep.wall_s),
        "use_trials_span": training_seconds(sweep.epochs) / (slots * (max(ends) - min(starts))),
        "first_batch_s": first_batch - sweep.started,
        "epochs": sweep.epochs_trained,
        "gap_s": _mean(slot_gaps(starts, ends, slots)),
        "setup_s": _mean(setups),
        "setup_total_s": sum(setups),
        "before_s": min(starts) - sweep.started,
        "after_s": sweep.started + sweep.wall_s - max(ends),
    }


def import_seconds(module: str) -> float:
    """Wall time of `import module` in a fresh interpreter (what every new trial process pays)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT)
    return time.perf_counter() - started


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slot_use", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--slots", type=int, default=SLOTS, help="trials at once (--max-concurrent)")
    parser.add_argument("--max-epochs", type=int, default=MAX_EPOCHS)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a sweep-config override, e.g. model.pretrained=true (repeatable)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.set)
    sweep_args = ("--num-samples", str(args.trials), "--max-concurrent", str(args.slots),
                  "--max-epochs", str(args.max_epochs))
    with tempfile.TemporaryDirectory(prefix="bench-slots-") as tmp:
        storage, cache = Path(tmp) / "exp", Path(tmp) / "cache"
        cold = figures(run_sweep(storage, "cold", *sweep_args, settings=settings, cache_dir=cache), args.slots)
        warm = figures(run_sweep(storage, "warm", *sweep_args, settings=settings, cache_dir=cache), args.slots)
    imports = {module: import_seconds(module) for module in ("torch", "timm", "search.trainable")}
    scale = {"trials": args.trials, "slots": args.slots, "max_epochs": args.max_epochs, **SCALE, **settings}
    write_figures("slot_use", {"scale": scale, "target": TARGET, "cold": cold, "warm": warm, "import_s": imports},
                  command="python -m benchmarks.slot_use " + " ".join(argv or []))
    section = _section(args, scale, cold, warm, imports)
    print(section)
    return section


def _section(args: argparse.Namespace, scale: dict, cold: dict, warm: dict, imports: dict) -> str:
    rows = "".join(
        f"| {label} | {f['wall_s']:.1f} | {f['training_s']:.1f} | {f['setup_total_s']:.1f} | {f['epochs']} | "
        f"**{f['slot_use']:.2f}** | {f['use_trials_span']:.2f} | {f['first_batch_s']:.1f} |\n"
        for label, f in (("cold cache", cold), ("warm cache", warm)))
    met = warm["slot_use"] >= TARGET
    return (
        "## Slot use\n\n"
        f"`python -m benchmarks.slot_use` ({dt.date.today()}): `search.run` on configs/smoke.yaml, {args.trials} trials, "
        f"{args.slots} at a time, epochs capped at {args.max_epochs}, ASHA; scale {scale}.\n\n"
        "Slot use = the time trials spend training and measuring (every epoch's `epoch_time_s`) / (slots x command "
        "wall time). Setup (each trial's imports and model build before its first epoch) is not use; it is the "
        "setup column.\n\n"
        "| cache | command wall (s) | training + measuring (s) | trials' setup (s) | epochs trained | slot use | "
        "training / (slots x first start..last end) | command to first batch (s) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|\n" + rows + "\n"
        f"Slot use, warm cache: **{warm['slot_use']:.2f}** [target >= {TARGET:.2f}: **{'met' if met else 'missed'}**]. "
        f"Each trial spends {warm['setup_s']:.1f} s on average before its first epoch; a slot stands empty "
        f"{warm['gap_s']:.1f} s on average between one trial's end and the next one's start in it; the command "
        f"spends {warm['before_s']:.1f} s before the first trial starts and {warm['after_s']:.1f} s after the last "
        f"ends. In a fresh process `import torch` takes {imports['torch']:.1f} s, `import timm` {imports['timm']:.1f} s, "
        f"`import search.trainable` {imports['search.trainable']:.1f} s. The cold run adds decoding the photos once "
        f"({cold['first_batch_s'] - warm['first_batch_s']:+.1f} s to the first batch).\n"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

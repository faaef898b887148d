"""Slot use: how much of the cluster a 16-trial sweep keeps busy, and how soon it starts training.

Target: the trials' busy time over slots x wall time >= 0.90. Busy time is each trial's `time_total_s`
(Tune's clock from the trainable's start to its last report: building the model, training, measuring,
checkpointing). Slots = CPUs / resources.cpu. Measured twice, side by side: with the data cache cold
(a fresh cache_dir: decoding is part of the command) and warm (the same cache_dir again).
Run: python -m benchmarks.slot_use
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.sweeps import ROOT, SCALE, Sweep, run_sweep

TRIALS, SLOTS, MAX_EPOCHS = 16, 2, 3


def figures(sweep: Sweep) -> dict:
    trials = sweep.collected.trials
    busy = float(trials["wall_time_s"].sum())
    starts, ends = sorted(trials["started_ts"].astype(float)), sorted(trials["ended_ts"].astype(float))
    first_batch = min(row["first_batch_ts"] for row in sweep.epochs if row.get("first_batch_ts"))
    # A trial that starts after the first SLOTS takes the slot the k-th ending trial freed: the gap is start-up.
    gaps = [start - end for start, end in zip(starts[SLOTS:], ends)]
    setups = [row["time_this_iter_s"] - row["epoch_time_s"] for row in sweep.epochs
              if row.get("iterations_since_restore") == 1 and row.get("epoch_time_s") is not None]
    return {
        "wall_s": sweep.wall_s,
        "busy_s": busy,
        "use_command": busy / (SLOTS * sweep.wall_s),
        "use_trials": busy / (SLOTS * (ends[-1] - starts[0])),
        "first_batch_s": first_batch - sweep.started,
        "epochs": sweep.epochs_trained,
        "gap_s": sum(gaps) / max(1, len(gaps)),
        "setup_s": sum(setups) / max(1, len(setups)),
        "before_s": starts[0] - sweep.started,
        "after_s": sweep.started + sweep.wall_s - ends[-1],
    }


def import_seconds(module: str) -> float:
    """Wall time of `import module` in a fresh interpreter (what every new trial process pays)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-slots-") as tmp:
        storage, cache = Path(tmp) / "exp", Path(tmp) / "cache"
        args = ("--num-samples", str(TRIALS), "--max-concurrent", str(SLOTS), "--max-epochs", str(MAX_EPOCHS))
        cold = figures(run_sweep(storage, "cold", *args, cache_dir=cache))
        warm = figures(run_sweep(storage, "warm", *args, cache_dir=cache))
    imports = {module: import_seconds(module) for module in ("torch", "timm", "search.trainable")}
    rows = "".join(
        f"| {label} | {f['wall_s']:.1f} | {f['busy_s']:.1f} | {f['epochs']} | **{f['use_command']:.2f}** | "
        f"{f['use_trials']:.2f} | {f['first_batch_s']:.1f} |\n" for label, f in (("cold cache", cold), ("warm cache", warm)))
    met = warm["use_command"] >= 0.90
    section = (
        "## Slot use\n\n"
        f"`python -m benchmarks.slot_use` ({dt.date.today()}): `search.run` on configs/smoke.yaml, {TRIALS} trials, {SLOTS} at a time "
        f"(1 CPU each), epochs capped at {MAX_EPOCHS}, ASHA, {SCALE['data.max_per_class']} photos per class.\n\n"
        "| cache | command wall (s) | trials' busy time (s) | epochs trained | busy / (slots x command wall) | "
        "busy / (slots x first start..last end) | command to first batch (s) |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n" + rows + "\n"
        f"Slot use over the whole command, warm cache: **{warm['use_command']:.2f}** [target >= 0.90: "
        f"**{'met' if met else 'missed'}**]. Profile: between the first trial's start and the last trial's end the "
        f"slots are {warm['use_trials']:.0%} busy; each trial after the first {SLOTS} starts {warm['gap_s']:.1f} s on "
        "average after the trial whose slot it takes ends: Ray starts a fresh worker process for it "
        "(`reuse_actors=False`: Ray can only reuse an actor whose training thread has ended, and a hung trial's never "
        "does, so reuse would fail the next trial) and imports the trainable (`import search.trainable`, Ray Tune "
        f"included: {imports['search.trainable']:.1f} s in a fresh process). Inside each trial, counted as busy, "
        f"{warm['setup_s']:.1f} s on average pass before its first epoch starts: importing torch and timm (in a fresh "
        f"process `import torch` takes {imports['torch']:.1f} s, `import timm` {imports['timm']:.1f} s with torch: "
        "timm imports torchvision, whose `ops` import `torch._dynamo`) and building the model. With trials of about "
        f"{warm['busy_s'] / TRIALS:.0f} s at this scale these start-ups are a large share; on GPU-scale trials "
        f"(minutes to hours) they are not. Outside the trials' span the command spends {warm['before_s']:.1f} s "
        f"before the first trial starts (Python, Ray and its dashboard, the cache check, the first worker) and "
        f"{warm['after_s']:.1f} s after the last ends (the summary), which a sweep of a few minutes cannot amortise. "
        f"The cold run adds decoding the photos once ({cold['first_batch_s'] - warm['first_batch_s']:+.1f} s to the "
        "first batch).\n"
    )
    print(section)
    return section


if __name__ == "__main__":
    main(sys.argv[1:])

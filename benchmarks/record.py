"""Record the learning-curve table that the replay benchmarks serve (benchmarks/data/curves.parquet).

Two real sweeps through `python -m search.run` on clothing-small (configs/bench/record.yaml: pretrained
EfficientNet-Lite0 + EdgeNet at 64 px, random search, FIFO, every trial to 8 epochs):

    record-seed0   NUM_CONFIGS random configurations, training seed 0
    record-seed1   the first SEED_REPEATS of them again, training seed 1: the table's measure of seed noise

Every epoch's validation metrics and wall time are kept, one row per (config, seed, epoch), with the
searched parameters as columns. Both sweeps are resumable: a rerun continues where a killed one stopped.
The provenance (command, commit, date, machine, wall time) goes to benchmarks/data/curves.json.
`make bench` never re-records; run this by hand (about 80 minutes on 2 cores):

    python -m benchmarks.record
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from results.collect import collect

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "bench" / "record.yaml"
DATA = ROOT.parent / "shared" / "datasets" / "clothing-small"
TABLE = ROOT / "benchmarks" / "data" / "curves.parquet"
PROVENANCE = TABLE.with_suffix(".json")
NUM_CONFIGS, SEED_REPEATS = 100, 20
KEPT = ("val_f1", "val_acc", "val_loss", "train_loss", "epoch_time_s")


def sweep(storage: Path, name: str, space: Path, *sets: str) -> None:
    """Run (or resume) one recording sweep; its output goes to storage/name.log."""
    resume = (storage / name).exists()
    cmd = [sys.executable, "-m", "search.run", "--space", str(space), "--data", str(DATA), "--storage", str(storage),
           "--name", name, "--no-report", *(["--resume"] if resume else [])]
    for setting in () if resume else sets:  # a resumed sweep runs the config it started with
        cmd += ["--set", setting]
    print(("resuming " if resume else "recording ") + name, flush=True)
    with (storage / f"{name}.log").open("a") as log:
        done = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks.record: sweep {name} failed (exit {done.returncode}); see {storage / name}.log")


def curves(experiment: Path, seed: int) -> pd.DataFrame:
    """One row per epoch of every trial that trained to the end: params, epoch, KEPT metrics."""
    collected = collect(str(experiment))
    params = [f"param_{p}" for p in collected.params]
    finished = collected.trials[collected.trials["status"] == "completed"][["trial_id", *params]]
    epochs = collected.epochs.merge(finished, on="trial_id")
    frame = epochs[["trial_id", *params, "epoch", *KEPT]].rename(columns={p: p[len("param_"):] for p in params})
    frame = frame.astype({name: float for name in KEPT})
    frame.insert(1, "seed", seed)
    return frame


def seed_repeat_space(storage: Path, first: pd.DataFrame) -> Path:
    """record.yaml with the first SEED_REPEATS configurations of seed 0 as its points to evaluate."""
    config = yaml.safe_load(CONFIG.read_text())
    space = list(config["search"]["space"])
    order = first.drop_duplicates("trial_id").sort_values("trial_id").head(SEED_REPEATS)
    config["search"]["points_to_evaluate"] = [{k: _plain(row[k]) for k in space} for _, row in order.iterrows()]
    config["search"]["num_samples"] = len(order)
    path = storage / "record-seed1.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.record", description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", type=Path, default=ROOT / "experiments" / "record")
    parser.add_argument("--configs", type=int, default=NUM_CONFIGS)
    parser.add_argument("--table-only", action="store_true",
                        help="write the table from the trials finished so far, without recording more")
    args = parser.parse_args(argv)
    args.storage.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if not args.table_only:
        sweep(args.storage, "record-seed0", CONFIG, f"search.num_samples={args.configs}")
    first = curves(args.storage / "record-seed0", seed=0)
    if not args.table_only:
        sweep(args.storage, "record-seed1", seed_repeat_space(args.storage, first), "train.seed=1")
    repeats = args.storage / "record-seed1"
    table = pd.concat([first, *([curves(repeats, seed=1)] if repeats.exists() else [])], ignore_index=True)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(TABLE, index=False)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    PROVENANCE.write_text(json.dumps({
        "command": f"python -m benchmarks.record --configs {args.configs}" + (" --table-only" if args.table_only else ""),
        "complete": not args.table_only and int(first["trial_id"].nunique()) >= args.configs, "config": str(CONFIG.relative_to(ROOT)),
        "commit": commit.strip(), "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.python_version()}, 2 slots x 1 CPU", "wall_s": round(time.time() - started),
        "recorded_wall_s": round(float(table["epoch_time_s"].sum())),
        "configs": int(first["trial_id"].nunique()), "seed_repeats": int(table[table.seed == 1]["trial_id"].nunique()),
        "rows": len(table),
    }, indent=2) + "\n")
    print(f"wrote {TABLE} ({len(table)} rows) and {PROVENANCE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

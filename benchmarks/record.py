"""Record the learning-curve table that the replay benchmarks serve (docs/data/curves.parquet).

Real sweeps through `python -m search.run` on clothing-small (configs/bench/record.yaml: pretrained
EfficientNet-Lite0 + EdgeNet at 64 px, FIFO, every trial to 8 epochs) of a fixed plan:

    seed 0   NUM_CONFIGS configurations drawn by Optuna's random sampler (seed 0) from the space
    seed 1   the first SEED_REPEATS of them again, training seed 1: the table's measure of seed noise

Every epoch's validation metrics and wall time are kept, one row per (config, seed, epoch), with the
searched parameters as columns. The table itself is what resumes: each run records only the planned
(configuration, seed) pairs that neither the committed table nor an earlier run's experiment in --storage
holds, so a killed run, a lost experiment folder or a fresh clone all continue where the table stopped.
The provenance (command, commits, dates, machine, wall time) goes to docs/data/curves.json.
`make bench` never re-records; run this by hand (about 80 minutes on 2 idle cores for the whole plan):

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
from typing import Any, Mapping, Sequence

import optuna
import pandas as pd
import yaml

from results.collect import collect

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "bench" / "record.yaml"
DATA = ROOT.parent / "shared" / "datasets" / "clothing-small"
TABLE = ROOT / "docs" / "data" / "curves.parquet"
PROVENANCE = TABLE.with_suffix(".json")
NUM_CONFIGS, SEED_REPEATS = 100, 20
KEPT = ("val_f1", "val_acc", "val_loss", "train_loss", "epoch_time_s")


def planned_configs(space: Mapping[str, Any], count: int, seed: int = 0) -> list[dict]:
    """The plan: `count` configurations from Optuna's random sampler (the same draws as a random sweep's)."""
    from search.space import define_by_run

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), direction="maximize")
    sample = define_by_run(space)
    configs = []
    for _ in range(count):
        trial = study.ask()
        sample(trial)
        configs.append(dict(trial.params))
    return configs


def config_key(params: Mapping[str, Any], names: Sequence[str]) -> tuple:
    """A configuration's identity across a Parquet round trip: floats to 10 significant digits."""
    return tuple(float(f"{params[n]:.10g}") if isinstance(params[n], float) else str(params[n]) for n in names)


def missing(planned: Sequence[dict], table: pd.DataFrame, seed: int) -> list[dict]:
    """The planned configurations the table holds no finished curve of at `seed`."""
    names = list(planned[0]) if planned else []
    rows = table[table["seed"] == seed] if len(table) else table
    held = {config_key(row, names) for row in rows.drop_duplicates("trial_id").to_dict("records")} if len(rows) else set()
    return [config for config in planned if config_key(config, names) not in held]


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


def merged(table: pd.DataFrame, storage: Path) -> pd.DataFrame:
    """The committed table plus every finished curve of the runs in `storage`, one curve per (config, seed)."""
    frames = [table] if len(table) else []
    for experiment in sorted(storage.glob("record-seed*-*")):
        if experiment.is_dir() and (experiment / "sweep.yaml").is_file():
            seed = int(experiment.name.split("-")[1][len("seed"):])
            frames.append(curves(experiment, seed))
    if not frames:
        return table
    everything = pd.concat(frames, ignore_index=True).drop_duplicates(["trial_id", "seed", "epoch"])
    names = [c for c in everything.columns if c not in ("trial_id", "seed", "epoch", *KEPT)]
    firsts = everything.drop_duplicates("trial_id")
    keep = firsts.assign(key=[config_key(r, names) for r in firsts[names].to_dict("records")])
    keep = keep.drop_duplicates(["key", "seed"])["trial_id"]  # the first recorded curve of each (config, seed)
    return everything[everything["trial_id"].isin(set(keep))].reset_index(drop=True)


def record(storage: Path, seed: int, configs: list[dict]) -> None:
    """One FIFO sweep of exactly `configs` at training seed `seed`, stored as a new experiment in `storage`."""
    config = yaml.safe_load(CONFIG.read_text())
    config["search"].update(points_to_evaluate=configs, num_samples=len(configs))
    config["train"]["seed"] = seed
    name = f"record-seed{seed}-{dt.datetime.now():%Y%m%d%H%M%S}"
    space = storage / f"{name}.yaml"
    space.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "search.run", "--space", str(space), "--data", str(DATA), "--storage", str(storage),
           "--name", name, "--no-report"]
    print(f"recording {len(configs)} configurations at seed {seed} as {storage / name}", flush=True)
    with (storage / f"{name}.log").open("w") as log:
        done = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks.record: sweep {name} failed (exit {done.returncode}); see {storage / name}.log")


def write_table(table: pd.DataFrame, plan: dict[int, list[dict]], command: str, wall_s: float) -> None:
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(TABLE, index=False)
    before = json.loads(PROVENANCE.read_text()) if PROVENANCE.exists() else {}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    counts = {seed: int(table[table.seed == seed]["trial_id"].nunique()) for seed in plan}
    runs = [*before.get("runs", []), {"command": command, "commit": commit.strip(), "date": dt.date.today().isoformat(),
                                      "wall_s": round(wall_s)}]
    PROVENANCE.write_text(json.dumps({
        "config": str(CONFIG.relative_to(ROOT)),
        "plan": {f"seed{seed}": len(configs) for seed, configs in plan.items()},
        "complete": all(counts[seed] >= len(configs) for seed, configs in plan.items()),
        "configs": counts[0], "seed_repeats": counts.get(1, 0), "rows": len(table),
        "machine": f"{platform.machine()}, Python {platform.python_version()}, 2 slots x 1 CPU",
        "recorded_wall_s": round(float(table["epoch_time_s"].sum())) if len(table) else 0,
        "note": before.get("note", ""), "runs": runs[-20:],
    }, indent=2) + "\n")
    print(f"wrote {TABLE} ({len(table)} rows: {counts[0]} configurations, {counts.get(1, 0)} repeated) and {PROVENANCE}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.record", description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", type=Path, default=ROOT / "experiments" / "record")
    parser.add_argument("--configs", type=int, default=NUM_CONFIGS)
    parser.add_argument("--table-only", action="store_true",
                        help="write the table from the curves finished so far, without recording more")
    args = parser.parse_args(argv)
    args.storage.mkdir(parents=True, exist_ok=True)
    started = time.time()
    from search.config import load_config

    planned = planned_configs(load_config(str(CONFIG)).search.space, args.configs)
    plan = {0: planned, 1: planned[:min(SEED_REPEATS, args.configs)]}
    table = merged(pd.read_parquet(TABLE) if TABLE.exists() else pd.DataFrame(), args.storage)
    for seed, configs in plan.items():
        todo = missing(configs, table, seed)
        if todo and not args.table_only:
            record(args.storage, seed, todo)
            table = merged(table, args.storage)
    command = f"python -m benchmarks.record --configs {args.configs}" + (" --table-only" if args.table_only else "")
    write_table(table, plan, command, time.time() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m search.study configs/study/study.yaml`: the study's comparison, run by the system, as one command.

A study file names a base sweep config, a grid of settings to compare (EdgeNet mode x balancing x
backbone, say), the seeds, and optionally `set:` overrides applied to every cell. Every cell x seed is
one short sweep, all on one Ray (local, or a cluster with --address). Run again, a study skips the
cells that finished and resumes the one that was interrupted. At the end it writes, into `<storage>/summary/`:

    study.md, study.csv   per cell: best validation macro-F1 and accuracy, mean and standard deviation over
                          seeds, and the difference to the baseline cell (the first value of every key but
                          the last), paired by seed: mean ± standard deviation of the per-seed differences
    report/               every cell's tables and one HTML report (results.report)
"""
from __future__ import annotations

import argparse
import itertools
import logging
import math
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from core.cli import command
from core.layout import REPORT_DIR, SWEEP_INFO
from core.schema import ConfigError
from search.config import ExperimentConfig, load_config
from search.experiment import Experiment, absolute_paths

SUMMARY = "summary"
"""The folder beside the cells that holds study.md, study.csv and report/."""
SHORT = {"model.edgenet.mode": "edge", "data.balance.strategy": "bal", "model.backbone": ""}
"""How a grid key appears in cell names (test_vit-edge_residual-bal_hybrid-s0)."""


@dataclass(frozen=True)
class Study:
    """A study file: the base config, the grid, the seeds, where the cells go."""

    path: str
    base: str
    grid: dict[str, list]
    seeds: tuple[int, ...]
    storage: str
    overrides: dict[str, Any]

    @classmethod
    def load(cls, path: str) -> Study:
        try:
            raw = yaml.safe_load(Path(path).read_text())
        except OSError as err:
            raise ConfigError(path, rule=f"cannot be read ({err.strerror})") from None
        except yaml.YAMLError as err:
            raise ConfigError(path, rule=f"is not valid YAML ({str(err).splitlines()[0]})") from None
        if not isinstance(raw, dict):
            raise ConfigError(path, rule="must be a mapping with base, grid, seeds and storage")
        unknown = sorted(set(raw) - {"base", "grid", "seeds", "storage", "set"})
        if unknown:
            raise ConfigError(unknown[0], rule="is not a study key (base, grid, seeds, storage, set)", source=path)
        overrides = raw.get("set") or {}
        if not isinstance(overrides, dict):
            raise ConfigError("set", overrides, "must map config keys to values", source=path)
        grid = raw.get("grid")
        if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
            raise ConfigError("grid", grid, "must map config keys to non-empty lists of values", source=path)
        seeds = raw.get("seeds", [0])
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
            raise ConfigError("seeds", seeds, "must be a non-empty list of integers", source=path)
        base = Path(path).parent / str(raw.get("base", ""))
        if not base.is_file():
            raise ConfigError("base", raw.get("base"), "must name a sweep config next to the study file", source=path)
        return cls(path=path, base=str(base), grid={str(k): list(v) for k, v in grid.items()}, seeds=tuple(seeds),
                   storage=str(raw.get("storage", "experiments/study")), overrides=dict(overrides))

    def cells(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values, in grid order (the first is the baseline)."""
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*self.grid.values())]

    def configs(self, seeds: Sequence[int]) -> list[tuple[dict, int, ExperimentConfig]]:
        """(cell, seed, validated config) for every run; all checked before any runs."""
        out = []
        for cell in self.cells():
            for seed in seeds:
                overrides = {**self.overrides, **cell, "search.sampler.seed": seed, "train.seed": seed,
                             "storage.path": self.storage, "storage.name": cell_name(cell, seed)}
                out.append((cell, seed, absolute_paths(load_config(self.base, overrides))))
        return out


def cell_name(cell: dict[str, Any], seed: int) -> str:
    parts = [f"{SHORT.get(k, k.rsplit('.', 1)[-1])}{'_' if SHORT.get(k, k) else ''}{v}" for k, v in cell.items()]
    return "-".join([*parts, f"s{seed}"])


def sweep_state(experiment: Experiment) -> str:
    """"finished", "started" (Ray Tune can restore it) or "new"."""
    from ray import tune

    from core.storage import ExperimentError, open_experiment

    try:
        info = open_experiment(experiment.location).read_json(SWEEP_INFO, default={})
    except ExperimentError:
        return "new"
    if info.get("finished_at"):
        return "finished"
    filesystem, path = experiment.filesystem() if experiment.remote else (None, str(experiment.path))
    return "started" if tune.Tuner.can_restore(path, storage_filesystem=filesystem) else "new"


def run_study(study: Study, seeds: Sequence[int], address: Optional[str] = None) -> list[tuple[dict, int, Experiment]]:
    """Run every cell x seed not finished yet (resuming an interrupted one); returns them all."""
    from search.ray_session import check_resources_exist, check_storage_reaches_every_node, start_ray
    from search.run import check_writable, prepare_data, run_sweep

    runs = study.configs(seeds)
    check_writable(runs[0][2].storage.path)
    done = []
    nodes = 0
    for index, (cell, seed, cfg) in enumerate(runs, start=1):
        experiment = Experiment.create(cfg.storage.path, cfg.storage.name)
        done.append((cell, seed, experiment))
        state = sweep_state(experiment)
        if state == "finished":
            print(f"[{index}/{len(runs)}] {experiment.name}: finished before, skipped", flush=True)
            continue
        print(f"[{index}/{len(runs)}] {experiment.name}{' (resumed)' if state == 'started' else ''}", flush=True)
        data = prepare_data(cfg)
        if not nodes:
            nodes = start_ray(address)
            check_resources_exist(cfg.resources.cpu, cfg.resources.gpu,
                                  attached=bool(address or os.environ.get("RAY_ADDRESS")))
            check_storage_reaches_every_node(cfg.storage.path, cfg.data.cache_dir, cfg.storage.shared, nodes)
        if state == "started":
            experiment.download()
        run_sweep(cfg, experiment, data, resume=state == "started", report=False)
    return done


def best_of_sweep(trials) -> dict:
    """The macro-F1 of a sweep's best trial and that same trial's accuracy (not the highest accuracy of any
    trial: under imbalance the most accurate trial is often the one that predicts the majority class)."""
    best = trials.loc[trials["best_val_f1"].idxmax()]
    return {"best_val_f1": float(best["best_val_f1"]), "best_val_acc": float(best["best_val_acc"])}


def summarise(study: Study, runs: list[tuple[dict, int, Experiment]]) -> str:
    """study.md / study.csv and the report of every cell; returns the Markdown table."""
    import pandas as pd

    from results.collect import collect
    from results.report import write_report
    from results.tables import to_markdown

    rows = []
    for cell, seed, experiment in runs:
        trials = collect(experiment.location).trials
        rows.append({**cell, "seed": seed, **best_of_sweep(trials), "epochs": int(trials["epochs_run"].sum())})
    frame = pd.DataFrame(rows)
    table = comparison(study, frame)
    summary = Experiment.create(study.storage, SUMMARY)  # a local folder; for a URI, a mirror uploaded there
    out = summary.path
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "study.csv", index=False)
    markdown = to_markdown(pd.DataFrame(table))
    (out / "study.md").write_text(f"# {Path(study.path).name}\n\n{markdown}\n")
    html = write_report([e.location for _, _, e in runs], str(out / REPORT_DIR))
    summary.upload("study.md", "study.csv", REPORT_DIR)
    print(f"\n{markdown}\n\nper seed: {out / 'study.csv'}\nreport: {html}")
    return markdown


def comparison(study: Study, frame) -> list[dict[str, Any]]:
    """One row per cell: its seeds' best validation macro-F1 and accuracy (mean ± sd), and its difference to the
    baseline cell, paired by seed (both ran with the same seed), as the mean ± sd of the per-seed differences."""
    import pandas as pd

    keys = list(study.grid)
    table = []
    for cell in study.cells():
        mine = frame[(frame[keys] == pd.Series(cell)).all(axis=1)]
        base = frame[(frame[keys] == pd.Series(baseline_cell(study, cell))).all(axis=1)]
        paired = mine.merge(base, on="seed", suffixes=("", "_base"))
        table.append({**cell, "seeds": len(mine),
                      "best val macro-F1": _mean_sd(mine["best_val_f1"]),
                      "vs baseline": _mean_sd(paired["best_val_f1"] - paired["best_val_f1_base"], signed=True),
                      "best val acc": _mean_sd(mine["best_val_acc"]), "epochs trained": int(mine["epochs"].sum())})
    return table


def baseline_cell(study: Study, cell: dict[str, Any]) -> dict[str, Any]:
    """The cell with the first value of every compared key except the last one (backbones compare apart);
    a grid of one key compares with its first value (else every cell would be its own baseline)."""
    keys = list(study.grid)
    apart = keys[-1] if len(keys) > 1 else None
    return {k: (cell[k] if k == apart else study.grid[k][0]) for k in keys}


def _mean_sd(values: Any, signed: bool = False) -> str:
    values = [float(v) for v in values if not math.isnan(float(v))]
    sign = "+" if signed else ""
    if len(values) < 2:  # no spread to show from one seed
        return f"{values[0]:{sign}.3f}" if values else "-"
    return f"{statistics.mean(values):{sign}.3f} ± {statistics.stdev(values):.3f}"


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(prog="python -m search.study", description=__doc__.splitlines()[0])
    parser.add_argument("study", help="study file (e.g. configs/study/study.yaml)")
    parser.add_argument("--seeds", type=int, nargs="+", help="run only these seeds (default: the study's)")
    parser.add_argument("--address", help="Ray cluster to attach to (default: $RAY_ADDRESS, else a local Ray)")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    from core.storage import ExperimentError

    study = Study.load(args.study)
    runs = run_study(study, args.seeds or study.seeds, args.address)
    try:
        summarise(study, runs)
    except (ExperimentError, OSError) as err:
        print(f"error: the cells ran, but their summary failed: {str(err).splitlines()[0]} "
              "(run the command again to retry it)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

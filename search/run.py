"""`python -m search.run --space configs/beit.yaml`: a hyperparameter sweep of the EdgeNet classifier on Ray Tune.

Reads and validates the config (before anything starts), prepares or reuses the data cache once, starts a
local Ray or attaches to a cluster, runs Optuna TPE + ASHA trials, and ends with the best configurations
in the study's table format and the sweep's report.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from core.cli import command
from core.layout import STUDY_FILE, SWEEP_CONFIG, SWEEP_INFO
from core.schema import ConfigError, dump_yaml, parse_assignment, with_overrides
from core.storage import open_experiment
from core.uri import open_location, without_query
from data_pipeline.cache import PreparedData, prepare_cache
from search.config import ExperimentConfig, StorageConfig, load_config, resolve_param
from search.experiment import Experiment, absolute_paths, clear_write_failures, write_failures, write_sweep_info
from search.tracking import require_mlflow

logger = logging.getLogger("search.run")

SMOKE = {"num_samples": 2, "max_concurrent": 2, "max_epochs": 2, "max_per_class": 8}
"""`--smoke`: the same path at a size that finishes in about a minute."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m search.run", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Example: python -m search.run --space configs/demo.yaml --smoke")
    p.add_argument("--space", help="sweep config YAML (data, model, train, search, resources, storage)")
    p.add_argument("--data", help="image root to use instead of data.source")
    p.add_argument("--storage", help="where experiments are stored: a folder, or a URI such as s3://bucket/sweeps "
                   "(on a multi-node cluster: a URI, or a mount every node shares with --set storage.shared=true)")
    p.add_argument("--name", help="experiment name (default: config name + time); with --resume, the one to resume")
    p.add_argument("--num-samples", type=int, help="number of trials")
    p.add_argument("--max-concurrent", type=int, help="trials running at once")
    p.add_argument("--max-epochs", type=int, help="cap on any trial's epochs (and on ASHA's max_t)")
    p.add_argument("--address", help="Ray cluster to attach to (default: $RAY_ADDRESS, else start a local Ray)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted experiment (--storage, --name)")
    p.add_argument("--smoke", action="store_true", help="2 trials, 2 epochs, 8 images per class: checks the whole path quickly")
    p.add_argument("--warm-start", metavar="EXPERIMENT",
                   help="seed the sampler with an earlier experiment's finished and pruned trials that fit this "
                   "space (a folder or a URI such as s3://bucket/sweeps/NAME; read, never written)")
    p.add_argument("--no-report", action="store_true", help="skip the tables and HTML report at the end")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.warmup_epochs=0 (repeatable)")
    return p.parse_args(argv)


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Config overrides the command line asks for, as dotted paths."""
    overrides = dict(parse_assignment(text) for text in args.set)
    flags = {"data.source": args.data, "storage.path": args.storage, "storage.name": args.name,
             "search.num_samples": args.num_samples, "search.max_concurrent": args.max_concurrent}
    overrides.update({k: v for k, v in flags.items() if v is not None})
    if args.smoke:
        overrides.setdefault("search.num_samples", SMOKE["num_samples"])
        overrides.setdefault("search.max_concurrent", SMOKE["max_concurrent"])
        overrides["data.max_per_class"] = SMOKE["max_per_class"]
    return overrides


def cap_epochs(cfg: ExperimentConfig, limit: int, source: str) -> ExperimentConfig:
    """The config with every trial's epochs (and ASHA's grace period) capped at `limit`."""
    if limit < 1:
        raise ConfigError("--max-epochs", limit, "must be >= 1")
    overrides: dict[str, Any] = {"train.epochs": min(cfg.train.epochs, limit),
                                 "search.scheduler.grace_period": min(cfg.search.scheduler.grace_period, limit)}
    for name, spec in cfg.search.space.items():
        if resolve_param(name) != "train.epochs":
            continue
        key = f"search.space.{name}"
        if spec.type == "categorical":
            overrides[f"{key}.choices"] = sorted({min(int(c), limit) for c in spec.choices})
        elif spec.low >= limit:
            overrides[key] = {"type": "categorical", "choices": [limit]}
        else:
            overrides[f"{key}.high"] = min(spec.high, limit)
        overrides["search.points_to_evaluate"] = [
            {**point, name: min(int(point[name]), limit)} if name in point else dict(point)
            for point in cfg.search.points_to_evaluate]
    return with_overrides(cfg, overrides, source=source)


RESUME_REFUSES = {"--set": "set", "--data": "data", "--num-samples": "num_samples",
                  "--max-concurrent": "max_concurrent", "--max-epochs": "max_epochs", "--smoke": "smoke"}
"""Flags that change the config: a resumed sweep runs the config it started with (its sweep.yaml)."""


def refuse_changes_on_resume(args: argparse.Namespace) -> None:
    """`--resume` with a flag that changes the config would silently ignore it: refuse it instead."""
    given = [flag for flag, attr in RESUME_REFUSES.items() if getattr(args, attr) not in (None, False, [])]
    if given:
        raise ConfigError("--resume", rule=f"cannot be combined with {', '.join(given)}: a resumed sweep runs the "
                          f"config it started with (its {SWEEP_CONFIG}); start a new sweep with another --name instead")


def load_sweep_config(args: argparse.Namespace) -> tuple[ExperimentConfig, Experiment]:
    """The validated config of this invocation and where its experiment lives."""
    if args.resume:
        refuse_changes_on_resume(args)
        experiment = Experiment.locate(args.storage or StorageConfig.path, args.name, args.space)
        cfg = load_config(str(experiment.path / SWEEP_CONFIG))
        return cfg, experiment
    if not args.space:
        raise ConfigError("--space", rule="is required (a sweep config YAML, e.g. configs/demo.yaml)")
    cfg = load_config(args.space, overrides_from_args(args))
    max_epochs = args.max_epochs if args.max_epochs is not None else (SMOKE["max_epochs"] if args.smoke else None)
    if max_epochs is not None:
        cfg = cap_epochs(cfg, max_epochs, source=args.space)
    cfg = absolute_paths(cfg)
    if cfg.replay.table:
        check_replay_table(cfg.replay.table, args.space)
    elif not cfg.data.source:
        raise ConfigError(args.space, rule="data.source is empty: set it in the config or pass --data PATH")
    if not cfg.replay.table and not Path(cfg.data.source).is_dir():
        raise ConfigError("data.source", cfg.data.source, "must be an existing directory of images: fix data.source "
                          "in the config or pass --data PATH (a relative path is read from the current directory)",
                          source=args.space)
    check_writable(cfg.storage.path)
    name = cfg.storage.name or f"{Path(args.space).stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    experiment = Experiment.create(cfg.storage.path, name)
    if experiment.exists():  # two sweeps in one experiment merge their studies, and Ray restores neither
        raise ConfigError("--name", name, f"is an experiment that already exists in {without_query(cfg.storage.path)}: "
                          "pass --resume to continue it, or choose another --name")
    experiment.drop_stale_mirror()
    return cfg, experiment


def check_replay_table(table: str, source: str) -> None:
    """A replayed sweep needs its learning-curve table (benchmarks.record writes it)."""
    if not Path(table).is_file():
        raise ConfigError("replay.table", table, "must be an existing Parquet learning-curve table (written by "
                          "python -m benchmarks.record), or empty to train for real", source=source)


def check_writable(storage_path: str) -> None:
    """Refuse storage that cannot be written (read-only, full, unreachable, no credentials) before Ray starts."""
    try:
        filesystem, root = open_location(storage_path, attempts=2)  # a wrong endpoint fails in seconds
        filesystem.create_dir(root, recursive=True)
        probe = f"{root}/.write-check-{os.getpid()}"
        with filesystem.open_output_stream(probe) as out:
            out.write(b"ok")
        filesystem.delete_file(probe)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise ConfigError("storage.path", without_query(storage_path), f"is not writable ({reason}): choose another "
                          "place with --storage PATH|URI or storage.path") from None


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    from search.ray_session import check_local_gpus, check_resources_exist, check_storage_reaches_every_node, start_ray

    attached = bool(args.address or os.environ.get("RAY_ADDRESS"))
    cfg, experiment = load_sweep_config(args)
    require_mlflow(cfg.tracking.mlflow)
    if args.warm_start:  # refused before Ray starts; read again (and only read) when the study is seeded
        open_experiment(args.warm_start, require=STUDY_FILE)
    if not attached:
        check_local_gpus(cfg.resources.gpu)
    data = prepare_data(cfg)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # one compact progress table (search.tuner.make_reporter)
    nodes = start_ray(args.address)
    check_resources_exist(cfg.resources.cpu, cfg.resources.gpu, attached)
    check_storage_reaches_every_node(cfg.storage.path, cfg.data.cache_dir, cfg.storage.shared, nodes)
    return run_sweep(cfg, experiment, data, resume=args.resume, report=not args.no_report, warm_start=args.warm_start)


def prepare_data(cfg: ExperimentConfig) -> PreparedData:
    """Prepare (or reuse) the cache before any trial starts; trials only read it. A replayed sweep has none."""
    if cfg.replay.table:
        logger.info("replay: trials are served recorded curves from %s (no data, no training)", cfg.replay.table)
        return PreparedData(path="", key="replay", classes=(), image_size=0, report={})
    data = prepare_cache(cfg.data, progress=sys.stderr.isatty())
    check_validation_split(data, cfg.data.source)
    logger.info("data: %s (%s, %d classes)", data.path, "cache hit" if data.hit else "prepared", len(data.classes))
    return data


def raise_disk_full(cfg: ExperimentConfig, experiment: Experiment, reason: str) -> None:
    """The sweep's storage failed mid-sweep (a full disk): one line with how to go on; what was written stays."""
    raise ConfigError("storage.path", without_query(cfg.storage.path), f"failed during the sweep (could not write "
                      f"{reason}): free space, then continue with `python -m search.run --resume --storage "
                      f"{without_query(cfg.storage.path)} --name {experiment.name}`") from None


def check_validation_split(data: PreparedData, source: str) -> None:
    """Every trial is scored on the validation split: refuse an empty one before Ray starts."""
    if len(data.split("validation")) == 0:
        raise ConfigError("data", source, "has no validation images (a pre-split tree without a val/ or validation/ "
                          "folder, or data.val_frac: 0), so every trial would be scored on nothing: add a val/ folder "
                          "to the tree, or set data.val_frac (e.g. 0.1) for a tree that is not pre-split")


def run_sweep(cfg: ExperimentConfig, experiment: Experiment, data: PreparedData, *, resume: bool, report: bool,
              warm_start: Optional[str] = None) -> int:
    """Run (or resume) the sweep, then summarise it; the exit code of the command."""
    execute_sweep(cfg, experiment, data, resume=resume, warm_start=warm_start)
    from search.summary import print_summary

    return print_summary(cfg, experiment, report=report)


def execute_sweep(cfg: ExperimentConfig, experiment: Experiment, data: PreparedData, *, resume: bool,
                  warm_start: Optional[str] = None, points: Optional[list[dict]] = None) -> None:
    """Run (or resume) the sweep to its end: its files, the Tuner, and sweep.json marked finished.

    `points`: the trials' parameters, fixed (search.confirm); otherwise the searcher samples them.
    """
    from search.tuner import build_tuner

    try:
        experiment.path.mkdir(parents=True, exist_ok=True)
        if not resume:
            dump_yaml(cfg, experiment.path / SWEEP_CONFIG)
            experiment.upload(SWEEP_CONFIG)  # once: its time in the store is when the sweep began (--resume: newest)
    except OSError as err:
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise ConfigError("storage.path", without_query(cfg.storage.path), f"cannot hold the sweep's files ({reason}; "
                          f"local copy: {experiment.path})") from None
    write_sweep_info(experiment.path, cfg, data, finished=False)
    experiment.try_upload(SWEEP_INFO)
    clear_write_failures()
    if warm_start:
        from search.searcher import seed_from

        seed_from(cfg, experiment, warm_start)
    tuner = build_tuner(cfg, experiment, cache_path=data.path, resume=resume, points=points)
    try:
        tuner.fit()  # trials that fail are recorded, not raised: the summary reads how each one ended
    except OSError as err:
        raise_disk_full(cfg, experiment, err.strerror or str(err).splitlines()[0])
    if write_failures():
        raise_disk_full(cfg, experiment, write_failures()[0])
    write_sweep_info(experiment.path, cfg, data, finished=True)
    experiment.try_upload(SWEEP_INFO, STUDY_FILE)


if __name__ == "__main__":
    sys.exit(main())

"""`python -m search.confirm EXPERIMENT --top-k 3 --seeds 3`: the sweep's top configurations re-run with fresh seeds.

A sweep's best trial won one draw of its seed, and was picked *because* it came out high. This command takes
the sweep's top-k trials by its metric and runs each one's exact configuration again with N fresh seeds
(train.seed = the sweep's seed + 1 .. + N; the original run is not one of them: its value is the selected,
optimistic one, shown beside for comparison), as one new Ray Tune sweep stored inside the experiment:

    EXPERIMENT/confirm/            an experiment folder of its own (FIFO, no searcher: the k x N points are fixed),
                                   plus confirm.json, the plan it runs
    EXPERIMENT/results/confirmed.{md,csv,tex}        the configurations ranked by the mean over seeds, sd beside
    EXPERIMENT/results/confirmed_pairs.{md,csv,tex}  every pair's difference and whether it is within noise

Run again, it continues an interrupted confirmation (Tuner.restore) or, when it finished, prints its tables
again. The sweep's own trials, study and files are only read.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from core import atomic
from core.cli import command
from core.layout import (
    CONFIRM_DIR,
    CONFIRM_PLAN,
    CONFIRMED_PAIRS,
    CONFIRMED_TABLE,
    REPORT_DIR,
    RESULTS_DIR,
    SWEEP_CONFIG,
    SWEEP_INFO,
    TRIAL_CONFIG,
)
from core.names import FINAL_STATUSES
from core.schema import ConfigError, to_mapping, with_overrides
from core.storage import ExperimentError, open_experiment
from core.uri import check_no_credentials, is_uri, without_query
from results.collect import Collected, collect, rank_trials
from search.config import ExperimentConfig, load_config
from search.experiment import Experiment

logger = logging.getLogger("search.confirm")

DEFAULT_TOP_K = 3
DEFAULT_SEEDS = 3


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m search.confirm", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Example: python -m search.confirm experiments/NAME --top-k 3 --seeds 3")
    p.add_argument("experiment", help="the sweep's experiment: a folder (<storage>/<name>) or a URI "
                   "such as s3://bucket/sweeps/NAME")
    p.add_argument("--top-k", type=int, help=f"configurations to confirm, the sweep's best first (default "
                   f"{DEFAULT_TOP_K}; a confirmation that exists keeps its own)")
    p.add_argument("--seeds", type=int, help=f"fresh seeds per configuration, at least 2 (default {DEFAULT_SEEDS}; "
                   "a confirmation that exists keeps its own)")
    p.add_argument("--address", help="Ray cluster to attach to (default: $RAY_ADDRESS, else start a local Ray)")
    p.add_argument("--no-report", action="store_true", help="do not rewrite EXPERIMENT/report/ at the end")
    return p.parse_args(argv)


def check_counts(args: argparse.Namespace) -> None:
    if args.top_k is not None and args.top_k < 1:
        raise ConfigError("--top-k", args.top_k, "must be >= 1")
    if args.seeds is not None and args.seeds < 2:
        raise ConfigError("--seeds", args.seeds, "must be >= 2: with one seed there is no spread to tell "
                          "configurations apart by")


def open_sweep(location: str) -> Experiment:
    """The sweep to confirm, with its driver files at hand (downloaded into the local mirror for a URI)."""
    if is_uri(location):
        check_no_credentials("EXPERIMENT", location)
        sweep = Experiment(location.rstrip("/"))
    else:
        sweep = Experiment(str(Path(location).expanduser().resolve()))
    open_experiment(sweep.location, require=SWEEP_INFO)  # one line when it is not an experiment
    try:
        sweep.download()
    except OSError as err:
        raise ExperimentError(f"{without_query(location)}: cannot be read ({str(err).splitlines()[0]})") from None
    if not (sweep.path / SWEEP_CONFIG).is_file():
        raise ExperimentError(f"{without_query(location)}: has no {SWEEP_CONFIG}, the config its trials ran with")
    return sweep


# ---------------------------------------------------------------- the plan


def plan_confirmation(sweep: Collected, cfg: ExperimentConfig, top_k: int, n_seeds: int) -> dict:
    """The configurations to confirm (the sweep's top-k distinct ones) and the k x N points to run.

    `sweep` is the collected sweep (results.collect). Points are seed-major: an interrupted confirmation
    has every configuration at its first seeds before any at its last.
    """
    from results.confirm import config_key

    finished = sweep.trials[sweep.trials["status"].isin(FINAL_STATUSES)] if len(sweep.trials) else sweep.trials
    ranked = rank_trials(finished, sweep.metric, sweep.mode)
    if ranked.empty:
        state = "" if sweep.finished else " (the sweep is unfinished: continue it with python -m search.run --resume)"
        raise ConfigError(without_query(sweep.location), rule=f"has no finished trial with a value of "
                          f"{sweep.metric} to confirm{state}")
    seeds = [cfg.train.seed + i for i in range(1, n_seeds + 1)]
    store = open_experiment(sweep.location)
    configs, seen = [], set()
    for position, row in enumerate(ranked.to_dict("records"), start=1):
        if len(configs) == top_k:
            break
        source = sweep.trial_config(row["trial_id"])
        key = config_key(source)
        if key in seen:  # the same configuration sampled twice: confirm it once
            continue
        seen.add(key)
        params = trial_params(store, row, cfg)
        check_reruns_exactly(cfg, row["trial_id"], params, source)
        configs.append({"rank": position, "trial_id": str(row["trial_id"]), "value": float(row[f"best_{sweep.metric}"]),
                        "params": params})
    if len(configs) < top_k:
        logger.warning("warning: the sweep has %d distinct finished configurations with a value: confirming %d, "
                       "not %d", len(configs), len(configs), top_k)
    if not sweep.finished:
        logger.warning("warning: the sweep is not finished: confirming the best of its %d finished trials so far",
                       len(finished))
    points = [{**c["params"], "train.seed": seed} for seed in seeds for c in configs]
    return {"sweep": sweep.name, "metric": sweep.metric, "mode": sweep.mode, "top_k": top_k, "seeds": seeds,
            "configs": configs, "points": points,
            "planned_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def trial_params(store: Any, row: dict, cfg: ExperimentConfig) -> dict:
    """The searched parameters a sweep trial was given (its params.json), as Ray handed them to it."""
    given = store.read_json(row["trial_dir"], "params.json", default=None) if row.get("trial_dir") else None
    if not isinstance(given, dict):
        raise ExperimentError(f"{store.shown}: trial {row['trial_id']} has no readable params.json; its "
                              "parameters are unknown")
    return {k: v for k, v in given.items() if k in cfg.search.space}


def check_reruns_exactly(cfg: ExperimentConfig, trial_id: str, params: dict, source: dict) -> None:
    """The config a confirmation run trains must be the one the sweep trial ran (its trial_config.yaml), seed
    aside; code or defaults that changed since the sweep would otherwise confirm a different configuration."""
    from results.confirm import without_seed
    from search.space import trial_run_config

    rerun = without_seed(to_mapping(trial_run_config(cfg, {**params, "train.seed": cfg.train.seed})))
    ran = without_seed(source)
    if rerun != ran:
        key = first_difference(ran, rerun)
        raise ConfigError(f"trial {trial_id}", rule=f"cannot be re-run exactly: its {TRIAL_CONFIG} has {key} = "
                          f"{lookup(ran, key)!r}, its parameters now give {lookup(rerun, key)!r} (the code or its "
                          "defaults changed since the sweep)")


def first_difference(a: Any, b: Any, prefix: str = "") -> str:
    """The first dotted key where two config mappings differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
    return prefix.rstrip(".")


def lookup(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def confirmation_config(cfg: ExperimentConfig, sweep: Experiment, points: list[dict]) -> ExperimentConfig:
    """The sweep's config with FIFO and one trial per point, stored as `confirm` inside the sweep's experiment."""
    return with_overrides(cfg, {"search.scheduler.type": "fifo", "search.num_samples": len(points),
                                "search.points_to_evaluate": [], "storage.path": sweep.location,
                                "storage.name": CONFIRM_DIR}, source="search.confirm")


def check_plan_matches(plan: dict, args: argparse.Namespace, confirm: Experiment) -> None:
    """Flags that ask for another plan than the stored one are refused, not silently ignored."""
    asked = {"--top-k": (args.top_k, plan.get("top_k")), "--seeds": (args.seeds, len(plan.get("seeds", [])))}
    for flag, (given, planned) in asked.items():
        if given is not None and given != planned:
            raise ConfigError(flag, given, f"must match the confirmation already in {without_query(confirm.location)} "
                              f"(planned with --top-k {plan.get('top_k')} --seeds {len(plan.get('seeds', []))}): run "
                              "without the flag to continue it, or remove that folder to plan another")


# ---------------------------------------------------------------- running and tabulating


def run_confirmation(cfg: ExperimentConfig, confirm: Experiment, points: list[dict], *, resume: bool,
                     address: Optional[str]) -> None:
    """Run (or resume) the confirmation sweep on Ray, exactly as search.run runs a sweep."""
    from search.ray_session import check_local_gpus, check_resources_exist, check_storage_reaches_every_node, start_ray
    from search.run import execute_sweep, prepare_data

    attached = bool(address or os.environ.get("RAY_ADDRESS"))
    if not attached:
        check_local_gpus(cfg.resources.gpu)
    data = prepare_data(cfg)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    nodes = start_ray(address)
    check_resources_exist(cfg.resources.cpu, cfg.resources.gpu, attached)
    check_storage_reaches_every_node(cfg.storage.path, cfg.data.cache_dir, cfg.storage.shared, nodes)
    execute_sweep(cfg, confirm, data, resume=resume, points=points)


def tabulate(sweep: Experiment, *, report: bool) -> int:
    """Write and print the confirmed tables (and the sweep's report); 1 when no confirmation run counted."""
    from results.confirm import load_confirmation
    from results.tables import to_markdown, write_table

    confirmation = load_confirmation(collect(sweep.location))
    if confirmation is None:
        raise ExperimentError(f"{without_query(sweep.location)}: its confirmation has not started")
    out = sweep.path / RESULTS_DIR
    write_table(confirmation.table, out, CONFIRMED_TABLE, caption=confirmation.caption)
    write_table(confirmation.pairs, out, CONFIRMED_PAIRS)
    sweep.try_upload(*(f"{RESULTS_DIR}/{stem}.{ext}" for stem in (CONFIRMED_TABLE, CONFIRMED_PAIRS)
                       for ext in ("md", "csv", "tex")))
    print(f"\n{to_markdown(confirmation.table)}\n{confirmation.caption}\n\n{to_markdown(confirmation.pairs)}")
    print(f"tables: {out / CONFIRMED_TABLE}.md, {out / CONFIRMED_PAIRS}.md")
    if report:
        from results.report import write_report

        html = write_report([sweep.location], str(sweep.path / REPORT_DIR))
        sweep.try_upload(REPORT_DIR)
        print(f"report: {html}")
    counted = int(confirmation.table["Seeds"].sum()) if len(confirmation.table) else 0
    if not counted:
        print(f"no confirmation run finished; see the error files under {without_query(sweep.location)}/{CONFIRM_DIR}")
    return 0 if counted else 1


def stored_or_new_plan(sweep: Experiment, confirm: Experiment, cfg: ExperimentConfig, plan: Optional[dict],
                       args: argparse.Namespace) -> dict:
    """The confirmation's plan: the stored one, or a new one written (and uploaded) before anything runs."""
    if plan is not None:
        return plan
    plan = plan_confirmation(collect(sweep.location), cfg, args.top_k or DEFAULT_TOP_K, args.seeds or DEFAULT_SEEDS)
    confirm.path.mkdir(parents=True, exist_ok=True)
    atomic.write_json(confirm.path / CONFIRM_PLAN, plan, indent=1)
    confirm.upload(CONFIRM_PLAN)
    return plan


def start_or_continue(sweep: Experiment, confirm: Experiment, plan: dict, *, resume: bool,
                      address: Optional[str]) -> None:
    """Run a new confirmation from its plan, or restore an interrupted one with the config it started with."""
    if resume:
        confirm.download()
        cfg = load_config(str(confirm.path / SWEEP_CONFIG))
    else:
        cfg = confirmation_config(load_config(str(sweep.path / SWEEP_CONFIG)), sweep, plan["points"])
    logger.info("confirming %d configurations x %d seeds of %s%s", len(plan["configs"]), len(plan["seeds"]),
                without_query(sweep.location), " (resumed)" if resume else "")
    run_confirmation(cfg, confirm, plan["points"], resume=resume, address=address)


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    check_counts(args)
    from results.confirm import read_plan
    from search.study import sweep_state

    sweep = open_sweep(args.experiment)
    confirm = Experiment.create(sweep.location, CONFIRM_DIR)
    state = sweep_state(confirm)  # finished | started (Tune can restore it) | new
    plan = read_plan(sweep.location)
    if plan is not None:
        check_plan_matches(plan, args, confirm)
    if state != "finished":
        plan = stored_or_new_plan(sweep, confirm, load_config(str(sweep.path / SWEEP_CONFIG)), plan, args)
        start_or_continue(sweep, confirm, plan, resume=state == "started", address=args.address)
    return tabulate(sweep, report=not args.no_report)


if __name__ == "__main__":
    sys.exit(main())

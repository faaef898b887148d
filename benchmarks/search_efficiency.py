"""Search efficiency on replay: which search finds a good configuration for the fewest epochs trained.

Every sweep is a real `search.run` sweep (Ray Tune, the project's searcher and scheduler, the Optuna study, the
recorder) of configs/bench/replay.yaml, whose trials are served the learning curves recorded from real training
(docs/data/curves.parquet, `benchmarks.record`) instead of training. The same trial budget for every
method, SEEDS seeds each (the seed drives the sampler and the replay's seed noise), `points_to_evaluate` empty
for every method but `tpe_asha_known_point`:

    tpe_asha              TPE + ASHA, stopped trials told to Optuna as PRUNED (this project's default)
    tpe_asha_complete     TPE + ASHA as Ray's OptunaSearch reports it: stopped trials COMPLETE, truncated score
    tpe_fifo              TPE, every trial trained in full
    random_asha           random search + ASHA
    random_fifo           random search, every trial trained in full: the baseline
    tpe_asha_known_point  tpe_asha whose first trial is the config's own defaults (a known-good point)

Figures, each with a 95% bootstrap interval over seeds (paired by seed where two methods are compared):
- epochs to target: epochs spent, in the order the driver received them, until the best so far reached the
  target, the final best random + FIFO found with the same seed. A sweep that never reaches it is counted at
  random + FIFO's whole budget (so a miss costs the method its speedup instead of being dropped);
- the speedup, mean epochs to target of random + FIFO over the method's; and the same in simulated slot-hours
  (the recorded wall time of the epochs spent: what the epochs cost on the machine that recorded them);
- the best validation macro-F1 once 25%, 50% and 100% of random + FIFO's budget in epochs was spent;
- warm start: trials to the target for a TPE + ASHA sweep seeded with an earlier sweep's trials, against the
  same sweep cold.

Run: python -m benchmarks.search_efficiency [--seeds 30] [--jobs 2] [--fresh]
(interrupted, it goes on from the sweeps already recorded in .cache/bench/search_efficiency/)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from benchmarks.figures import write_figures
from benchmarks.record import PROVENANCE
from benchmarks.stats import anytime, best_at, epochs_to_reach, mean_interval, ratio_interval

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "bench" / "replay.yaml"
SVG = ROOT / "docs" / "images" / "search_efficiency.svg"
RESULTS = ROOT / ".cache" / "bench" / "search_efficiency"
SEEDS, TRIALS, MAX_EPOCHS = 30, 40, 8
WARM_SEEDS = 10
BASELINE, OURS, DEFAULT = "random_fifo", "tpe_asha", "tpe_asha_complete"
TPE, RANDOM = {"search.sampler.type": "tpe"}, {"search.sampler.type": "random"}
ASHA, FIFO = {"search.scheduler.type": "asha"}, {"search.scheduler.type": "fifo"}
METHODS: dict[str, dict] = {
    "tpe_asha": {**TPE, **ASHA},
    "tpe_asha_complete": {**TPE, **ASHA, "search.sampler.prune_stopped": False},
    "tpe_fifo": {**TPE, **FIFO},
    "random_asha": {**RANDOM, **ASHA},
    "random_fifo": {**RANDOM, **FIFO},
    "tpe_asha_known_point": {**TPE, **ASHA, "known_point": True},
}
FRACTIONS = (0.25, 0.5, 1.0)


# -- one sweep ------------------------------------------------------------------------------------------------

def sweep_settings(method: str, seed: int, storage: Path, name: str, trials: int = TRIALS) -> dict:
    """The config overrides of one benchmark sweep."""
    settings = {key: value for key, value in METHODS[method].items() if key != "known_point"}
    settings.update({"search.sampler.seed": seed, "train.seed": seed, "search.num_samples": trials,
                     "search.points_to_evaluate": [], "storage.path": str(storage), "storage.name": name})
    if METHODS[method].get("known_point"):
        settings["search.points_to_evaluate"] = [known_point()]
    return settings


def known_point() -> dict:
    """The replay config's own defaults for every searched parameter: the sweep's known-good starting point."""
    from core.schema import to_mapping
    from search.config import load_config, resolve_param

    cfg = load_config(str(CONFIG))
    plain = to_mapping(cfg)
    point = {}
    for name in cfg.search.space:
        section, _, field = resolve_param(name).rpartition(".")
        value = plain
        for part in section.split("."):
            value = value[part]
        point[name] = value[field]
    return point


def run_one(settings: dict, warm_start: Optional[str] = None) -> list[dict]:
    """Run one replayed sweep in this process (Ray already started); every epoch in the order received."""
    from search.config import load_config
    from search.experiment import Experiment, absolute_paths
    from search.run import prepare_data, run_sweep

    cfg = absolute_paths(load_config(str(CONFIG), settings))
    experiment = Experiment.create(cfg.storage.path, cfg.storage.name)
    with contextlib.redirect_stdout(io.StringIO()):  # the progress table and the summary, 200 times over
        run_sweep(cfg, experiment, prepare_data(cfg), resume=False, report=False, warm_start=warm_start)
    lines = (experiment.path / "epochs.jsonl").read_text().splitlines()
    return [{key: row.get(key) for key in ("trial_id", "epoch", "val_f1", "epoch_time_s")}
            for row in map(json.loads, lines)]


def worker(seeds: Sequence[int], out: Path, warm_seeds: Sequence[int], trials: int) -> None:
    """Every method's sweep for `seeds` (and the warm-start pair for those in `warm_seeds`), as JSON lines.
    Sweeps the results folder already holds (an earlier, interrupted run) are not run again."""
    import ray

    done = recorded(out.parent, trials)
    logging.getLogger().setLevel(logging.WARNING)
    ray.init(include_dashboard=False, log_to_driver=False)  # one private Ray per worker; nothing to watch
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp, out.open("a") as sink:
        storage = Path(tmp)

        def record(method: str, seed: int, epochs: list[dict], started: float) -> None:
            sink.write(json.dumps({"method": method, "seed": seed, "trials": trials,
                                   "wall_s": round(time.time() - started, 2), "epochs": epochs}) + "\n")
            sink.flush()

        for seed in seeds:
            warm = seed in warm_seeds and not {(f"{OURS}_cold", seed), (f"{OURS}_warm", seed)} <= done
            for method in METHODS:
                if (method, seed) in done and not (warm and method == OURS):  # the warm pair needs its folder
                    continue
                started = time.time()
                record(method, seed, run_one(sweep_settings(method, seed, storage, f"{method}-s{seed}", trials)),
                       started)
                if not (warm and method == OURS):
                    shutil.rmtree(storage / f"{method}-s{seed}", ignore_errors=True)
            if warm:  # a second TPE + ASHA sweep, new seed, cold and warm-started from the first one
                source = str(storage / f"{OURS}-s{seed}")
                for kind, start in (("cold", None), ("warm", source)):
                    name, started = f"{kind}-s{seed}", time.time()
                    record(f"{OURS}_{kind}", seed,
                           run_one(sweep_settings(OURS, seed + 1000, storage, name, trials), warm_start=start), started)
                    shutil.rmtree(storage / name, ignore_errors=True)
                shutil.rmtree(source, ignore_errors=True)


def recorded(folder: Path, trials: int) -> set[tuple[str, int]]:
    """The (method, seed) sweeps `folder` already holds for this trial budget."""
    return {(row["method"], row["seed"]) for row in finished_rows(folder, trials)}


def finished_rows(folder: Path, trials: int) -> list[dict]:
    """The sweeps recorded in `folder`'s JSON-lines files with this trial budget (a torn last line is skipped)."""
    rows = []
    for path in sorted(folder.glob("job*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if row.get("trials") == trials:
                rows.append(row)
    return rows


# -- the figures (pure: tested in tests/benchmarks/test_search_efficiency.py) ---------------------------------

def scores(sweep: dict) -> list[float]:
    return [float("nan") if row["val_f1"] is None else float(row["val_f1"]) for row in sweep["epochs"]]


def hours(sweep: dict, epochs: int) -> float:
    """Recorded wall time of the first `epochs` epochs spent, in hours."""
    return sum(float(row["epoch_time_s"] or 0.0) for row in sweep["epochs"][:epochs]) / 3600


def trials_to(sweep: dict, epochs: Optional[int]) -> Optional[int]:
    """How many trials had reported by the time `epochs` epochs were spent (None: the target never reached)."""
    if epochs is None:
        return None
    return len({row["trial_id"] for row in sweep["epochs"][:epochs]})


def paired_costs(sweeps: dict[str, dict[int, dict]], method: str, seeds: Sequence[int]) -> dict[str, list[float]]:
    """Per seed, the epochs and slot-hours `method` and the baseline spent to reach the baseline's final best.

    A method that never reaches it is charged the baseline's whole budget (its epochs and hours)."""
    costs: dict[str, list[float]] = {"epochs": [], "hours": [], "base_epochs": [], "base_hours": [], "reached": []}
    for seed in seeds:
        base, run = sweeps[BASELINE][seed], sweeps[method][seed]
        base_curve = anytime(scores(base))
        target = float(base_curve[-1])
        base_epochs = epochs_to_reach(base_curve, target)
        spent = epochs_to_reach(anytime(scores(run)), target)
        costs["base_epochs"].append(base_epochs)
        costs["base_hours"].append(hours(base, base_epochs))
        costs["epochs"].append(len(base["epochs"]) if spent is None else spent)
        costs["hours"].append(hours(base, len(base["epochs"])) if spent is None else hours(run, spent))
        costs["reached"].append(spent is not None)
    return costs


def method_figures(sweeps: dict[str, dict[int, dict]], method: str, seeds: Sequence[int]) -> dict:
    """The speedups against random + FIFO and the best F1 at fractions of its budget, with intervals."""
    costs = paired_costs(sweeps, method, seeds)
    budget = int(np.median([len(sweeps[BASELINE][s]["epochs"]) for s in seeds]))
    figures = {
        "speedup_vs_random_fifo": _interval(ratio_interval(costs["base_epochs"], costs["epochs"])),
        "speedup_hours_vs_random_fifo": _interval(ratio_interval(costs["base_hours"], costs["hours"])),
        "epochs_to_target": _interval(mean_interval(costs["epochs"])),
        "reached": int(sum(costs["reached"])),
        "epochs_spent": _interval(mean_interval([len(sweeps[method][s]["epochs"]) for s in seeds])),
        "seeds": len(seeds),
    }
    for fraction in FRACTIONS:
        best = [best_at(anytime(scores(sweeps[method][s])), round(fraction * budget)) for s in seeds]
        figures[f"best_f1_at_{round(fraction * 100)}pct"] = _interval(mean_interval(best))
    return figures


def pruned_versus_complete(sweeps: dict[str, dict[int, dict]], seeds: Sequence[int]) -> dict:
    """PRUNED (ours) against COMPLETE-with-truncated-scores (Ray's default) reporting, paired by seed."""
    ours, default = paired_costs(sweeps, OURS, seeds), paired_costs(sweeps, DEFAULT, seeds)
    final = {m: [best_at(anytime(scores(sweeps[m][s])), 10**9) for s in seeds] for m in (OURS, DEFAULT)}
    return {
        "epochs_ratio_complete_over_pruned": _interval(ratio_interval(default["epochs"], ours["epochs"])),
        "final_best_f1_difference_pruned_minus_complete": _interval(
            mean_interval(np.subtract(final[OURS], final[DEFAULT]))),
        "seeds": len(seeds),
    }


def warm_start_figures(sweeps: dict[str, dict[int, dict]], seeds: Sequence[int]) -> dict:
    """Trials (and epochs) a TPE + ASHA sweep needs to reach random + FIFO's final best, cold and warm-started."""
    out: dict = {"seeds": len(seeds)}
    for kind in ("cold", "warm"):
        trials, epochs, reached = [], [], 0
        for seed in seeds:
            target = float(anytime(scores(sweeps[BASELINE][seed]))[-1])
            run = sweeps[f"{OURS}_{kind}"][seed]
            spent = epochs_to_reach(anytime(scores(run)), target)
            reached += spent is not None
            trials.append(trials_to(run, len(run["epochs"]) if spent is None else spent))
            epochs.append(len(run["epochs"]) if spent is None else spent)
        out[kind] = {"trials_to_target": _interval(mean_interval(trials)),
                     "epochs_to_target": _interval(mean_interval(epochs)), "reached": reached}
    cold = [_trials_or_budget(sweeps, "cold", s) for s in seeds]
    warm = [_trials_or_budget(sweeps, "warm", s) for s in seeds]
    out["trials_ratio_cold_over_warm"] = _interval(ratio_interval(cold, warm))
    return out


def _trials_or_budget(sweeps: dict, kind: str, seed: int) -> int:
    target = float(anytime(scores(sweeps[BASELINE][seed]))[-1])
    run = sweeps[f"{OURS}_{kind}"][seed]
    spent = epochs_to_reach(anytime(scores(run)), target)
    return trials_to(run, len(run["epochs"]) if spent is None else spent)


def anytime_band(sweeps: dict[int, dict], budget: int, points: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """x (epochs spent) and per x the (mean, low, high) of the best so far over seeds."""
    xs = np.unique(np.linspace(1, budget, points).round().astype(int))
    band = np.array([mean_interval([best_at(anytime(scores(s)), int(x)) for s in sweeps.values()]) for x in xs])
    return xs, band


def _interval(triple: tuple[float, float, float]) -> dict:
    mean, low, high = triple
    return {"mean": round(mean, 4), "low": round(low, 4), "high": round(high, 4)}


# -- the plot and the section -----------------------------------------------------------------------------------

COLOURS = {"tpe_asha": "#1f77b4", "tpe_asha_complete": "#9467bd", "tpe_fifo": "#2ca02c", "random_asha": "#ff7f0e",
           "random_fifo": "#d62728", "tpe_asha_known_point": "#8c564b"}


def anytime_svg(sweeps: dict[str, dict[int, dict]], budget: int, width: int = 720, height: int = 420) -> str:
    """Best validation macro-F1 so far against epochs spent: per method the mean line and its 95% band."""
    bands = {m: anytime_band(sweeps[m], budget) for m in METHODS if m in sweeps}
    finite = np.concatenate([b[np.isfinite(b)] for _, b in bands.values()])
    low, high = float(np.floor(finite.min() * 20) / 20), float(np.ceil(finite.max() * 20) / 20)
    left, right, top, bottom = 60, width - 190, 20, height - 45

    def x(e: float) -> float:
        return left + (right - left) * (e - 1) / max(budget - 1, 1)

    def y(v: float) -> float:
        return bottom - (bottom - top) * (min(max(v, low), high) - low) / max(high - low, 1e-9)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="black"/>']
    for tick in np.linspace(low, high, 6):
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    for tick in np.linspace(1, budget, 6).round():
        parts.append(f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle">{int(tick)}</text>')
    parts.append(f'<text x="{(left + right) / 2}" y="{height - 8}" text-anchor="middle">epochs spent</text>')
    parts.append(f'<text x="14" y="{(top + bottom) / 2}" transform="rotate(-90 14 {(top + bottom) / 2})" '
                 'text-anchor="middle">best validation macro-F1 so far</text>')
    for row, (method, (xs, band)) in enumerate(bands.items()):
        ok = np.isfinite(band).all(axis=1)
        xs_ok, band_ok = xs[ok], band[ok]
        upper = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in zip(xs_ok, band_ok[:, 2]))
        lower = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in zip(xs_ok[::-1], band_ok[::-1, 1]))
        mean = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in zip(xs_ok, band_ok[:, 0]))
        colour = COLOURS[method]
        parts.append(f'<polygon points="{upper} {lower}" fill="{colour}" fill-opacity="0.15" stroke="none"/>')
        parts.append(f'<polyline points="{mean}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<line x1="{right + 15}" y1="{top + 10 + 18 * row}" x2="{right + 35}" y2="{top + 10 + 18 * row}" '
                     f'stroke="{colour}" stroke-width="3"/><text x="{right + 40}" y="{top + 14 + 18 * row}">{method}</text>')
    return "\n".join([*parts, "</svg>"]) + "\n"


def _ci(entry: dict, fmt: str = ".2f") -> str:
    return f"{format(entry['mean'], fmt)} [{format(entry['low'], fmt)}, {format(entry['high'], fmt)}]"


def section(figures: dict, command: str, wall_s: float) -> str:
    methods = figures["methods"]
    lines = ["| method | epochs spent | epochs to target (reached) | speedup in epochs | speedup in slot-hours | "
             "best F1 at 25% | at 50% | at 100% |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, f in methods.items():
        lines.append(f"| {name} | {_ci(f['epochs_spent'], '.0f')} | {_ci(f['epochs_to_target'], '.0f')} "
                     f"({f['reached']}/{f['seeds']}) | {_ci(f['speedup_vs_random_fifo'])} | "
                     f"{_ci(f['speedup_hours_vs_random_fifo'])} | {_ci(f['best_f1_at_25pct'], '.3f')} | "
                     f"{_ci(f['best_f1_at_50pct'], '.3f')} | {_ci(f['best_f1_at_100pct'], '.3f')} |")
    ours, pvc, warm = methods[OURS]["speedup_vs_random_fifo"], figures["pruned_vs_complete"], figures["warm_start"]
    met = ours["mean"] >= 3 and ours["low"] > 1
    ratio, diff = pvc["epochs_ratio_complete_over_pruned"], pvc["final_best_f1_difference_pruned_minus_complete"]
    helps = ratio["low"] > 1 or diff["low"] > 0
    hurts = ratio["high"] < 1 or diff["high"] < 0
    verdict = ("helps" if helps and not hurts else "hurts" if hurts and not helps else
               "makes no difference that these seeds can tell")
    return (
        "## Search efficiency\n\n"
        f"`{command}`: {figures['seeds']} seeds per method, {figures['trials']} trials per sweep, up to {MAX_EPOCHS} epochs a "
        f"trial, 8 at a time, replayed from docs/data/curves.parquet ({figures['table']}) through `search.run`"
        f" (configs/bench/replay.yaml: ASHA grace 1, reduction 3; TPE with 10 random start-up trials). "
        f"Wall time {wall_s / 60:.0f} min{_wall_note(figures)}. Mean over seeds with its 95% bootstrap interval (paired by seed for the "
        "speedups). Target: random + FIFO's final best with the same seed; a sweep that never reaches it is "
        "charged random + FIFO's whole budget. Slot-hours: the recorded wall time of the epochs spent.\n\n"
        + "\n".join(lines) + "\n\n"
        f"![best so far against epochs spent](images/{SVG.name})\n\n"
        f"TPE + ASHA (PRUNED) reaches random + FIFO's final best with **{_ci(ours)}x** fewer epochs "
        f"[target >= 3x, the interval excluding 1: **{'met' if met else 'missed'}**].\n\n"
        f"PRUNED against COMPLETE reporting of stopped trials: COMPLETE needs {_ci(ratio)}x the epochs to the target; "
        f"final best F1, PRUNED minus COMPLETE: {_ci(diff, '+.4f')}. On this benchmark PRUNED reporting **{verdict}**.\n\n"
        f"Warm start ({warm['seeds']} seeds; a second TPE + ASHA sweep seeded with a first one's trials): trials to "
        f"the target {_ci(warm['warm']['trials_to_target'], '.1f')} warm ({warm['warm']['reached']}/{warm['seeds']} "
        f"reached) against {_ci(warm['cold']['trials_to_target'], '.1f')} cold ({warm['cold']['reached']}/"
        f"{warm['seeds']}); cold over warm {_ci(warm['trials_ratio_cold_over_warm'])}x.\n"
    )


def _wall_note(figures: dict) -> str:
    sweeps, earlier = figures.get("sweeps", 0), figures.get("sweeps_from_earlier_run", 0)
    note = f" for {sweeps} sweeps ({figures.get('sweep_time_s', 0) / 60:.0f} min of sweep time, side by side)"
    if earlier:
        note += f"; {earlier} of them were recorded by an earlier, interrupted run of the command and not run again"
    return note if sweeps else ""


def collect_figures(sweeps: dict[str, dict[int, dict]], seeds: Sequence[int], warm_seeds: Sequence[int],
                    table: str, trials: int) -> dict:
    return {
        "seeds": len(seeds), "trials": trials, "table": table,
        "methods": {m: method_figures(sweeps, m, seeds) for m in METHODS},
        "speedup_vs_random_fifo": method_figures(sweeps, OURS, seeds)["speedup_vs_random_fifo"],
        "pruned_vs_complete": pruned_versus_complete(sweeps, seeds),
        "warm_start": warm_start_figures(sweeps, warm_seeds),
    }


def load(folder: Path, trials: int) -> dict[str, dict[int, dict]]:
    """method -> seed -> the recorded sweep (the last one recorded, where a sweep was run twice)."""
    sweeps: dict[str, dict[int, dict]] = {}
    for row in finished_rows(folder, trials):
        sweeps.setdefault(row["method"], {})[row["seed"]] = row
    return sweeps


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_efficiency")
    parser.add_argument("--seeds", type=int, default=SEEDS, help="seeds per method")
    parser.add_argument("--jobs", type=int, default=2, help="sweeps run side by side (one Ray each)")
    parser.add_argument("--trials", type=int, default=TRIALS, help="trials per sweep, the same for every method")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="where each sweep's epochs are kept as it ends; a second run goes on from them")
    parser.add_argument("--fresh", action="store_true", help="forget the sweeps recorded in --results first")
    parser.add_argument("--worker", nargs="+", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warm-seeds", nargs="*", type=int, default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.out, args.warm_seeds, args.trials)
        return ""
    seeds, warm_seeds = list(range(args.seeds)), list(range(min(WARM_SEEDS, args.seeds)))
    started = time.time()
    if args.fresh:
        shutil.rmtree(args.results, ignore_errors=True)
    args.results.mkdir(parents=True, exist_ok=True)
    earlier = len(recorded(args.results, args.trials))
    procs = []
    for job in range(args.jobs):
        cmd = [sys.executable, "-m", "benchmarks.search_efficiency", "--worker", *map(str, seeds[job::args.jobs]),
               "--out", str(args.results / f"job{job}.jsonl"), "--trials", str(args.trials),
               "--warm-seeds", *map(str, warm_seeds)]
        log = (args.results / f"job{job}.log").open("w")
        procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"benchmarks.search_efficiency: a worker failed; see {args.results}/job*.log "
                             "(run again to go on from the sweeps recorded)")
    sweeps = load(args.results, args.trials)
    wall = time.time() - started
    provenance = json.loads(PROVENANCE.read_text())
    table = f"{provenance['configs']} configurations, {provenance['seed_repeats']} with two seeds"
    figures = collect_figures(sweeps, seeds, warm_seeds, table, args.trials)
    runs = [row for by_seed in sweeps.values() for row in by_seed.values()]
    figures.update(sweeps=len(runs), sweeps_from_earlier_run=earlier,
                   sweep_time_s=round(sum(row.get("wall_s", 0.0) for row in runs)))
    command = f"python -m benchmarks.search_efficiency --seeds {args.seeds} --jobs {args.jobs} --trials {args.trials}"
    write_figures("search_efficiency", {**figures, "wall_s": round(wall)}, command=command)
    budget = int(np.median([len(sweeps[BASELINE][s]["epochs"]) for s in seeds]))
    SVG.parent.mkdir(parents=True, exist_ok=True)
    SVG.write_text(anytime_svg(sweeps, budget))
    text = section(figures, command, wall)
    print(text)
    return text


if __name__ == "__main__":
    main(sys.argv[1:])

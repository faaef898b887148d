"""Search efficiency: which method finds a good configuration for the fewest epochs trained.

Five methods on clothing-small at the benchmark scale, three seeds each, the same number of trials
(except the study's method, which is its four configurations):

    tpe_asha          TPE + ASHA, stopped trials told to Optuna as PRUNED (this project's default)
    tpe_asha_default  TPE + ASHA as Ray's OptunaSearch does it: stopped trials COMPLETE with truncated scores
    random_asha       random search + ASHA
    random_fifo       random search, every trial trained in full
    study             the study's four hand-picked configurations (configs/beit.yaml), trained in full

Reported per method: epochs trained, wall time, best validation macro-F1, and the epochs trained (in the
order the driver received them) until some trial came within 1 point of the best F1 that random + FIFO
found with the same seed. Target: TPE + ASHA needs >= 3x fewer epochs than random + FIFO, at an equal or
better best F1. Run: python -m benchmarks.search_efficiency [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Optional

from benchmarks.sweeps import SCALE, Sweep, run_sweep

TRIALS, SLOTS, MAX_EPOCHS = 10, 2, 4
WITHIN = 0.01
"""One point of macro-F1."""
STUDY_POINTS = [  # configs/beit.yaml's points_to_evaluate, epochs at this scale's maximum
    {"epochs": MAX_EPOCHS, "batch_size": 32, "lr": 0.001, "dropout": 0.05, "weight_decay": 0.001, "optimizer": "rmsprop", "momentum": 0.9},
    {"epochs": MAX_EPOCHS, "batch_size": 32, "lr": 0.001, "dropout": 0.005, "weight_decay": 0.01, "optimizer": "adam"},
    {"epochs": MAX_EPOCHS, "batch_size": 64, "lr": 0.0001, "dropout": 0.1, "weight_decay": 0.001, "optimizer": "sgd", "momentum": 0.9},
    {"epochs": MAX_EPOCHS, "batch_size": 64, "lr": 0.0001, "dropout": 0.05, "weight_decay": 0.001, "optimizer": "rmsprop", "momentum": 0.9},
]
STARTUP = 2 * SLOTS
"""TPE's random start-up trials: the default 10 would leave TPE no trial of its own to model."""
METHODS: dict[str, dict] = {
    "tpe_asha": {"search.sampler.type": "tpe", "search.scheduler.type": "asha",
                 "search.sampler.n_startup_trials": STARTUP},
    "tpe_asha_default": {"search.sampler.type": "tpe", "search.scheduler.type": "asha",
                         "search.sampler.n_startup_trials": STARTUP, "search.sampler.prune_stopped": False},
    "random_asha": {"search.sampler.type": "random", "search.scheduler.type": "asha"},
    "random_fifo": {"search.sampler.type": "random", "search.scheduler.type": "fifo"},
    "study": {"search.scheduler.type": "fifo", "search.num_samples": len(STUDY_POINTS),
              "search.points_to_evaluate": json.dumps(STUDY_POINTS)},
}


def epochs_to_reach(sweep: Sweep, target: float, metric: str = "val_f1") -> Optional[int]:
    """Epochs trained, in the order reported, until one reached `target`; None if none did."""
    for count, row in enumerate(sweep.epochs, start=1):
        if row.get(metric) is not None and row[metric] >= target:
            return count
    return None


def run(seeds: list[int], storage: Path) -> dict[str, list[dict]]:
    """method -> one row of figures per seed."""
    out: dict[str, list[dict]] = {m: [] for m in METHODS}
    for seed in seeds:
        sweeps = {}
        for method, settings in METHODS.items():
            print(f"-- {method}, seed {seed}", flush=True)
            trials = settings.get("search.num_samples", TRIALS)  # a flag would override the study's 4
            args = ("--num-samples", str(trials), "--max-concurrent", str(SLOTS), "--max-epochs", str(MAX_EPOCHS))
            sweeps[method] = run_sweep(storage, f"{method}-s{seed}", *args,
                                       settings={**settings, "search.sampler.seed": seed, "train.seed": seed})
        target = sweeps["random_fifo"].best() - WITHIN
        for method, sweep in sweeps.items():
            out[method].append({"seed": seed, "epochs": sweep.epochs_trained, "wall_s": sweep.wall_s,
                                "best_f1": sweep.best(), "to_target": epochs_to_reach(sweep, target)})
    return out


def _mean_sd(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.mean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def section(results: dict[str, list[dict]], seeds: list[int]) -> str:
    lines = ["| method | epochs trained | wall (s) | best val macro-F1 | epochs to within 1 pt of random+FIFO's best "
             "(per seed) |", "|---|---:|---:|---:|---|"]
    for method, rows in results.items():
        reach = ", ".join("not reached" if r["to_target"] is None else str(r["to_target"]) for r in rows)
        lines.append(f"| {method} | {_mean_sd([r['epochs'] for r in rows], '.1f')} | "
                     f"{_mean_sd([r['wall_s'] for r in rows], '.0f')} | {_mean_sd([r['best_f1'] for r in rows], '.3f')} | "
                     f"{reach} |")
    tpe, fifo = results["tpe_asha"], results["random_fifo"]
    ratios = [f["to_target"] / t["to_target"] for t, f in zip(tpe, fifo) if t["to_target"] and f["to_target"]]
    equal_or_better = sum(t["best_f1"] >= f["best_f1"] - WITHIN for t, f in zip(tpe, fifo))
    reached = sum(t["to_target"] is not None for t in tpe)
    ratio = statistics.mean(ratios) if ratios else math.nan
    met = len(ratios) == len(seeds) and ratio >= 3 and equal_or_better == len(seeds)
    gap = statistics.mean(t["best_f1"] - f["best_f1"] for t, f in zip(tpe, fifo))
    spread = max((statistics.stdev(r["best_f1"] for r in rows) for rows in results.values() if len(rows) > 1),
                 default=math.nan)
    saved = 1 - statistics.mean(t["epochs"] for t in tpe) / statistics.mean(f["epochs"] for f in fifo)
    return (
        "## Search efficiency\n\n"
        f"`python -m benchmarks.search_efficiency --seeds {' '.join(map(str, seeds))}`: configs/smoke.yaml at "
        f"{SCALE['data.max_per_class']} photos per class, {TRIALS} trials per sweep ({len(STUDY_POINTS)} for the "
        f"study's method), {SLOTS} at a time, epochs 2..{MAX_EPOCHS}, ASHA grace 1 / reduction 3, TPE with "
        f"{STARTUP} random start-up trials, seeds "
        f"{', '.join(map(str, seeds))} (sampler and training). Mean ± standard deviation over seeds.\n\n"
        + "\n".join(lines) + "\n\n"
        f"Random + FIFO needs on average **{ratio:.2f}x** the epochs TPE + ASHA needs to come within 1 point of "
        f"random + FIFO's own best (TPE + ASHA reached it with {reached} of {len(seeds)} seeds; its best F1 was "
        f"within 1 point of random + FIFO's or better with {equal_or_better} of {len(seeds)}) "
        f"[target >= 3x at equal or better F1: **{'met' if met else 'missed'}**].\n\n"
        f"TPE + ASHA trained {saved:.0%} fewer epochs than random + FIFO in all; its best F1 minus random + "
        f"FIFO's is {gap:+.3f} on average, against a spread over seeds of up to {spread:.3f} for any method "
        f"(chance is 0.100 for 10 classes): a difference in best F1 smaller than that spread is noise.\n"
    )


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_efficiency")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        results = run(args.seeds, Path(tmp))
    text = section(results, args.seeds)
    print(text)
    return text


if __name__ == "__main__":
    main(sys.argv[1:])

"""A real (not replayed) sweep pair: does real training rank the methods as the replay benchmark does?

Two real `search.run` sweeps of configs/bench/record.yaml (pretrained EfficientNet-Lite0 on clothing-small,
the scale and space the learning-curve table was recorded at), the same trial budget and seed, training for
real: TPE + ASHA with stopped trials PRUNED (this project's default) and random search + FIFO (the baseline),
`points_to_evaluate` empty for both. The figures are the replay benchmark's own (benchmarks.search_efficiency,
same functions): epochs spent, epochs until the best so far reached random + FIFO's final best (a miss is
charged the baseline's whole budget), the speedup, the best validation macro-F1 at the end. Beside them, the
replay benchmark's speedup from docs/benchmarks.json, and whether the two put the methods in the same order.

One seed of real training at a smaller budget than replay's: it can contradict replay's ranking, it cannot
give an interval of its own.

Run: python -m benchmarks.real_pair [--trials 20] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Optional

from benchmarks import search_efficiency as replay
from benchmarks.figures import read_figures, write_figures
from benchmarks.sweeps import run_sweep

CONFIG = replay.ROOT / "configs" / "bench" / "record.yaml"
TRIALS = 20
PAIR = (replay.BASELINE, replay.OURS)


def sweep_settings(method: str, seed: int, trials: int) -> dict:
    """The `--set` overrides of one real sweep of the pair."""
    return {**replay.METHODS[method], "search.sampler.seed": seed, "train.seed": seed,
            "search.num_samples": trials, "search.points_to_evaluate": "[]"}


def pair_figures(epochs: dict[str, list[dict]], seed: int, replayed: Optional[dict]) -> dict:
    """The replay benchmark's figures of the two real sweeps, and whether replay's speedup points the same way."""
    sweeps = {method: {seed: {"epochs": rows}} for method, rows in epochs.items()}
    methods = {method: replay.method_figures(sweeps, method, [seed]) for method in PAIR}
    real = methods[replay.OURS]["speedup_vs_random_fifo"]["mean"]
    figures = {"seed": seed, "methods": methods, "speedup_vs_random_fifo": real,
               "final_best_f1": {m: max(replay.scores(sweeps[m][seed]), default=float("nan")) for m in PAIR}}
    if replayed:
        figures["replay_speedup_vs_random_fifo"] = replayed
        figures["ranking_agrees"] = (real > 1) == (replayed["mean"] > 1)
    return figures


def section(figures: dict, command: str, trials: int, wall_s: float) -> str:
    rows = []
    for method, f in figures["methods"].items():
        rows.append(f"| {method} | {f['epochs_spent']['mean']:.0f} | {f['epochs_to_target']['mean']:.0f} "
                    f"({'reached' if f['reached'] else 'not reached'}) | {f['speedup_vs_random_fifo']['mean']:.2f} | "
                    f"{figures['final_best_f1'][method]:.3f} |")
    replayed = figures.get("replay_speedup_vs_random_fifo")
    if replayed:
        verdict = (f"Replay's speedup for the same pair is {replayed['mean']:.2f} [{replayed['low']:.2f}, "
                   f"{replayed['high']:.2f}] ({replayed.get('seeds', '?')} seeds, {replayed.get('trials', '?')} trials): the real pair "
                   f"**{'agrees' if figures['ranking_agrees'] else 'disagrees'}** on which method is ahead.")
    else:
        verdict = "No replay figures in docs/benchmarks.json yet to compare with (run benchmarks.search_efficiency)."
    return (
        "## Search efficiency: a real sweep pair\n\n"
        f"`{command}`: two real `search.run` sweeps of configs/bench/record.yaml (pretrained EfficientNet-Lite0, "
        f"training for real), {trials} trials each, seed {figures['seed']}, `points_to_evaluate` empty. Wall time "
        f"{wall_s / 60:.0f} min. The replay benchmark's definitions: epochs to random + FIFO's final best, speedup "
        "= random + FIFO's epochs to it over the method's. One seed: it can contradict replay's ranking, it gives "
        "no interval.\n\n"
        "| method | epochs spent | epochs to target | speedup in epochs | final best F1 |\n"
        "|---|---:|---:|---:|---:|\n" + "\n".join(rows) + f"\n\n{verdict}\n"
    )


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_pair")
    parser.add_argument("--trials", type=int, default=TRIALS, help="trials per sweep, the same for both")
    parser.add_argument("--seed", type=int, default=0, help="the sampler's and the training's seed")
    args = parser.parse_args(argv)
    epochs, wall = {}, 0.0
    with tempfile.TemporaryDirectory(prefix="bench-pair-") as tmp:
        for method in PAIR:
            sweep = run_sweep(Path(tmp), method, config=CONFIG, scale={},
                              settings=sweep_settings(method, args.seed, args.trials))
            epochs[method], wall = sweep.epochs, wall + sweep.wall_s
    entry = read_figures().get("search_efficiency", {})
    replayed = entry.get("speedup_vs_random_fifo")
    if replayed:
        replayed = {**replayed, "seeds": entry.get("seeds"), "trials": entry.get("trials")}
    figures = pair_figures(epochs, args.seed, replayed)
    command = f"python -m benchmarks.real_pair --trials {args.trials} --seed {args.seed}"
    write_figures("search_efficiency_real_pair", {**figures, "trials": args.trials, "wall_s": round(wall)},
                  command=command)
    text = section(figures, command, args.trials, wall)
    print(text)
    return text


if __name__ == "__main__":
    main(sys.argv[1:])

"""Trial overhead: the same model, data and epochs trained by the bare trainer and as one Ray Tune trial.

Target: end-to-end images/s of the Tune trial >= 0.95 x the bare trainer's. End to end: the images both
train (epochs x the training split's images per epoch) over the seconds from the command's start (for the
trial: before `ray.init`) to the last epoch written (its checkpoint on disk), so the ratio counts everything
Ray costs: starting Ray and the actor, imports, reporting, and the per-epoch checkpoint that the bare trainer
writes too. Rounds run in alternating order (bare first, then trial first, ...); every round's own ratio is
reported in the order it ran, and the headline is the ratio of the medians. The bare runs share this
process, so only the first pays `import torch` / `import timm`; a trial's worker pays them every round.
Run: python -m benchmarks.trial_overhead [--rounds 3 --epochs 3 --set key=value]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from benchmarks.figures import write_figures
from core.schema import parse_assignment
from data_pipeline.cache import prepare_cache
from search.config import load_config

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "clothing-small"
EPOCHS = 3
ROUNDS = 3
TARGET = 0.95
PARAMS = {"batch_size": 64, "lr": 1e-3, "dropout": 0.1, "weight_decay": 0.01, "optimizer": "adamw"}


def round_order(round_: int) -> tuple[str, str]:
    """Which run goes first in round `round_`: alternating, since whichever runs first tends to run faster."""
    return ("bare", "trial") if round_ % 2 == 0 else ("trial", "bare")


def end_to_end_rate(images: int, started: float, last_epoch_written: float) -> float:
    """Images per second from the command's start to its last epoch written."""
    return images / (last_epoch_written - started)


def round_ratios(bare: Sequence[float], trial: Sequence[float]) -> list[float]:
    """Each round's trial / bare rate, in the order the rounds ran (not sorted)."""
    return [t / b for b, t in zip(bare, trial)]


def overhead_ratio(bare: Sequence[float], trial: Sequence[float]) -> float:
    """The headline: the median trial rate over the median bare rate."""
    return statistics.median(trial) / statistics.median(bare)


def bare(cfg, data, params: dict) -> tuple[int, float]:
    """(images trained, end-to-end images/s) of the trainer alone, on resources.cpu threads as a trial."""
    started = time.time()
    import torch

    from model.trainer import Trainer
    from search.space import trial_run_config

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(cfg.resources.cpu)))
    written = [started]
    try:
        trainer = Trainer(trial_run_config(cfg, params), data, device="cpu")
        with tempfile.TemporaryDirectory() as d:
            def checkpoint(_metrics: dict) -> None:  # the same per-epoch checkpoint as a trial
                trainer.save_checkpoint(d)
                written[0] = time.time()
            trainer.fit(on_epoch=checkpoint)
    finally:
        torch.set_num_threads(threads)
    images = sum(len(trainer.plan.epoch_indices(epoch)) for epoch in range(params["epochs"]))
    return images, end_to_end_rate(images, started, written[0])


def as_trial(cfg, data, params: dict, images: int) -> float:
    """End-to-end images/s of one Ray Tune trial with the same parameters (the same `images`)."""
    started = time.time()
    import ray
    from ray import tune

    from search.tuner import make_trainable

    ray.init(num_cpus=int(cfg.resources.cpu), include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as storage:
            tuner = tune.Tuner(make_trainable(cfg, data.path), param_space=params,
                               run_config=tune.RunConfig(storage_path=storage, name="overhead", verbose=0))
            (result,) = tuner.fit()
            written = last_write(Path(result.checkpoint.path))
    finally:
        ray.shutdown()
    return end_to_end_rate(images, started, written)


def last_write(directory: Path) -> float:
    """When the last file of a checkpoint directory was written (the last epoch on disk)."""
    return max(path.stat().st_mtime for path in directory.rglob("*") if path.is_file())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trial_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "smoke.yaml"))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override, e.g. model.pretrained=true (repeatable)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    overrides = {"data.source": str(DATA), "data.cache_dir": str(ROOT / ".cache" / "data"),
                 "resources.cpu": os.cpu_count() or 1, **dict(parse_assignment(item) for item in args.set)}
    cfg = load_config(args.config, overrides)
    data = prepare_cache(cfg.data, progress=False)
    params = {**PARAMS, "epochs": args.epochs}
    rates: dict[str, list[float]] = {"bare": [], "trial": []}
    images = 0
    for round_ in range(args.rounds):
        for kind in round_order(round_):
            if kind == "bare":
                images, rate = bare(cfg, data, params)
            else:
                rate = as_trial(cfg, data, params, images)  # round 0 runs bare first: images is known
            rates[kind].append(rate)
    ratio = overhead_ratio(rates["bare"], rates["trial"])
    per_round = round_ratios(rates["bare"], rates["trial"])
    write_figures("trial_overhead", {
        "config": args.config, "epochs": args.epochs, "rounds": args.rounds, "overrides": args.set,
        "images": images, "bare_images_per_s": rates["bare"], "trial_images_per_s": rates["trial"],
        "round_ratios": per_round, "ratio": ratio, "target": TARGET,
    }, command="python -m benchmarks.trial_overhead " + " ".join(argv or []))
    section = _section(cfg, args, rates, per_round, ratio)
    print(section)
    return section


def _section(cfg, args: argparse.Namespace, rates: dict, per_round: list[float], ratio: float) -> str:
    rows = "".join(f"| {round_ + 1} | {' then '.join(round_order(round_))} | {b:.0f} | {t:.0f} | {t / b:.3f} |\n"
                   for round_, (b, t) in enumerate(zip(rates["bare"], rates["trial"])))
    return (
        "## Trial overhead\n\n"
        f"`python -m benchmarks.trial_overhead` ({dt.date.today()}): {args.config} ({cfg.model.backbone}, "
        f"{cfg.model.image_size} px, EdgeNet {cfg.model.edgenet.mode}), clothing-small train split, {args.epochs} "
        f"epochs, batch 64, {cfg.resources.cpu:g} threads for both, a checkpoint after every epoch in both; "
        f"{args.rounds} rounds in alternating order.\n\n"
        "End-to-end images/s: images trained / seconds from the command's start (for the trial, before `ray.init`) "
        "to the last epoch's checkpoint written.\n\n"
        "| round | order | bare trainer (img/s) | Ray Tune trial (img/s) | trial / bare |\n"
        "|---:|---|---:|---:|---:|\n" + rows + "\n"
        f"Ratio of the medians (trial / bare): **{ratio:.3f}** [target >= {TARGET}: "
        f"**{'met' if ratio >= TARGET else 'missed'}**]; per round, in the order run: "
        f"{', '.join(f'{r:.3f}' for r in per_round)}.\n"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

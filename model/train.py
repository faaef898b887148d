"""Train one configuration without Ray: `python -m model.train --config configs/train_tiny.yaml`.

Prepares (or reuses) the data cache, trains, prints one line per epoch and writes into --out:
metrics.csv (one row per epoch), checkpoint.pt (the final state), config.yaml (the config as run) and
final.json (last epoch's metrics, per-class validation scores and the confusion matrix).
The `search`, `resources` and `storage` sections of a sweep config are ignored.
Exit codes: 0 completed, 1 diverged, 2 bad config or data.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

import torch

from core.cli import command
from core.names import EPOCH, EPOCH_METRICS, LR, STATUS
from core.schema import dump_yaml, parse_assignment
from model.config import RunConfig, load_run_config
from model.device import resolve_device

PRINTED = (EPOCH, STATUS, LR, *EPOCH_METRICS, "images_per_s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML config with data / model / train sections")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one field, e.g. --set train.lr=3e-4 (repeatable)")
    parser.add_argument("--data", help="image source; overrides data.source")
    parser.add_argument("--out", default="runs/train", help="output folder (default: runs/train)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or auto; overrides train.device")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--test", action="store_true", help="also evaluate on the test split at the end")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    return parser.parse_args(argv)


def load_config(args: argparse.Namespace) -> RunConfig:
    """The config file with --set, --data and --device applied, validated like the file itself."""
    overrides = dict(parse_assignment(text) for text in args.set)
    if args.data:
        overrides["data.source"] = args.data
    if args.device:
        overrides["train.device"] = args.device
    return load_run_config(args.config, overrides or None)


def run(cfg: RunConfig, out: Path, *, evaluate_test: bool = False) -> str:
    """Prepare the data, train, write the outputs; returns the run's status."""
    from data_pipeline.cache import prepare_cache
    from model.trainer import Trainer

    data = prepare_cache(cfg.data, progress=sys.stderr.isatty())
    out.mkdir(parents=True, exist_ok=True)
    dump_yaml(cfg, out / "config.yaml")
    trainer = Trainer(cfg, data)
    print(f"training {cfg.model.backbone} (edgenet {cfg.model.edgenet.mode}) on {trainer.device}: "
          f"{len(trainer.train_loader.split)} train / {len(data.split('validation'))} validation images, "
          f"{len(data.classes)} classes", flush=True)
    result = trainer.fit(on_epoch=lambda m: print(_epoch_line(m), flush=True))
    trainer.save_checkpoint(str(out))
    write_metrics_csv(result.history, out / "metrics.csv")
    final = dict(result.final)
    if evaluate_test:
        final["test"] = trainer.evaluate("test")
        print(f"test acc={final['test']['acc']:.4f} f1={final['test']['f1']:.4f}")
    (out / "final.json").write_text(json.dumps(final, indent=2, default=float), encoding="utf-8")
    print(f"{result.status}: wrote {out}/metrics.csv, checkpoint.pt, config.yaml, final.json")
    return result.status


def _epoch_line(metrics: dict) -> str:
    parts = [f"{k}={metrics[k]:.4f}" if isinstance(metrics[k], float) else f"{k}={metrics[k]}" for k in PRINTED]
    return " ".join(parts) + (f" reason={metrics['diverged_reason']!r}" if "diverged_reason" in metrics else "")


def write_metrics_csv(history: list[dict], path: Path) -> None:
    """One row per epoch; columns are the union of the epochs' keys, in first-seen order."""
    columns = list(dict.fromkeys(k for row in history for k in row))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args)
    resolve_device(cfg.train.device)  # a device this machine lacks is refused before the data is prepared
    status = run(cfg, Path(args.out), evaluate_test=args.test)
    return 0 if status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())

"""python -m data_pipeline.prepare SOURCE --out DIR --image-size N: validate, split and cache a dataset.

Prints the class distribution per split (and the training split after an example hybrid-to-median
balancing), the excluded files counted by reason, and where the cache is and how big; writes
DIR/report.json. User errors exit with code 2 and one line, without a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from core.cli import command
from data_pipeline.balance import plan_balance
from data_pipeline.cache import PreparedData, prepare_cache
from data_pipeline.config import BalanceConfig, DataConfig
from data_pipeline.sources import SPLITS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m data_pipeline.prepare",
        description="Validate, split and cache an image dataset (ROOT/<class>/<img>, "
                    "ROOT/{train,validation|val,test}/<class>/<img>, or a CSV manifest + image folder) "
                    "as resized uint8 Arrow files. Writes OUT/<key>/ and OUT/report.json.")
    p.add_argument("source", help="image root, or the image folder a --manifest points into")
    p.add_argument("--out", required=True, help="cache directory: local path or URI (s3://..., file://...)")
    p.add_argument("--image-size", type=int, default=128, help="side of the cached square images (default 128)")
    p.add_argument("--manifest", help="CSV with one row per image (image column + label column)")
    p.add_argument("--image-col", default="image", help="manifest column with the file name or relative path")
    p.add_argument("--label-col", default="label", help="manifest column with the class label")
    p.add_argument("--min-count", type=int, default=1, help="drop classes with fewer valid images")
    p.add_argument("--val-frac", type=float, default=0.1, help="validation share (ignored for a pre-split tree)")
    p.add_argument("--test-frac", type=float, default=0.1, help="test share (ignored for a pre-split tree)")
    p.add_argument("--seed", type=int, default=0, help="seed of the stratified split")
    p.add_argument("--max-per-class", type=int, help="keep at most K images per class and split")
    p.add_argument("--min-image-side", type=int, default=32, help="exclude images whose shorter side is smaller")
    p.add_argument("--include", nargs="+", default=(), metavar="LABEL", help="keep only these labels")
    p.add_argument("--exclude", nargs="+", default=(), metavar="LABEL", help="drop these labels")
    p.add_argument("--workers", type=int, help="decode processes (default: every core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    return p


def config_from_args(args: argparse.Namespace) -> DataConfig:
    """The DataConfig the command line describes (raises ConfigError on impossible values)."""
    return DataConfig(source=args.source, manifest=args.manifest, image_col=args.image_col,
                      label_col=args.label_col, min_count=args.min_count, include=tuple(args.include),
                      exclude=tuple(args.exclude), val_frac=args.val_frac, test_frac=args.test_frac,
                      seed=args.seed, image_size=args.image_size, min_image_side=args.min_image_side,
                      max_per_class=args.max_per_class, cache_dir=args.out)


def format_summary(data: PreparedData) -> str:
    """Per-split class table (plus train after hybrid-to-median), excluded counts, cache place and size."""
    report, classes = data.report, data.classes
    train = data.split("train")
    balanced = plan_balance(train.labels, len(classes), BalanceConfig("hybrid", "median"), seed=0).counts_per_epoch()
    width = max(len(c) for c in classes + ("class", "total"))
    head = f"{'class':<{width}} " + " ".join(f"{s:>10}" for s in SPLITS) + f" {'train@hybrid':>13}"
    lines = [f"{'reused' if data.hit else 'built'} cache {data.path} ({len(classes)} classes)", head]
    for i, c in enumerate(classes):
        counts = " ".join(f"{report['splits'][s].get(c, 0):>10}" for s in SPLITS)
        lines.append(f"{c:<{width}} {counts} {int(balanced[i]):>13}")
    totals = " ".join(f"{sum(report['splits'][s].values()):>10}" for s in SPLITS)
    lines.append(f"{'total':<{width}} {totals} {int(balanced.sum()):>13}")
    excluded = report.get("excluded_counts", {})
    lines.append("excluded: " + (", ".join(f"{r} {n}" for r, n in excluded.items()) or "none"))
    for d in report.get("dropped_classes", []):
        lines.append(f"dropped class {d['class']!r} ({d['images']} images): {d['reason']}")
    lines.append(f"cache size: {report.get('cache_bytes', 0) / 2**20:.1f} MiB at {data.image_size} px")
    return "\n".join(lines)


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    data = prepare_cache(config_from_args(args), progress=not args.no_progress, workers=args.workers)
    print(format_summary(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())

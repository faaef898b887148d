"""Ship a sweep's winner: `python -m deploy.export EXPERIMENT [--trial ID | --pick RULE] [--retrain] --out DIR`.

Takes the best trial by the sweep metric (or the one named with --trial, or the finished trial a rule such as
`--pick "fastest-within 0.01"` names: the lowest latency within 0.01 of the best metric), loads the checkpoint of its best
epoch (the latest kept one when Ray dropped that), or with --retrain trains the same configuration from
scratch on train + validation for the trial's best epoch count and evaluates it once on test. Writes a
model package (see deploy/package.py): weights, the config as it ran, classes, preprocessing, validation
and test metrics, plus TorchScript and ONNX exports whose logits are checked against the PyTorch model on
real test images (max |diff| < 1e-4 on CPU). Exit codes: 0 ok, 1 an export failed its check, 2 bad input.

    python -m deploy.export experiments/demo --out packages/demo
    python -m deploy.predict --model packages/demo photos/
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import logging
import math
import sys
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from core.cli import command
from core.errors import UserError
from core.layout import CALIBRATION_FILE, RESULTS_DIR
from core.names import COMPLETED, EPOCH, EPOCH_METRICS
from core.schema import with_overrides
from core.storage import open_experiment
from data_pipeline.cache import PreparedData
from data_pipeline.loader import BatchLoader
from deploy.calibration import calibrate
from deploy.package import (
    META_FILE,
    ONNX_FILE,
    ONNX_INPUT,
    ONNX_OUTPUT,
    TORCHSCRIPT_FILE,
    claim_folder,
    write_meta,
    write_package,
)
from deploy.trial import checkpoint_epoch, load_trial, open_trial_data, present, summary, trial_params, trial_run_config
from results.collect import Collected, collect, rank_trials
from results.pareto import Objective, PickRule, parse_pick, pick_trial

log = logging.getLogger("deploy.export")

TOLERANCE = 1e-4
"""Largest accepted |logit difference| between an export and the PyTorch model, on CPU."""
CHECK_IMAGES = 32
"""Real test images (evenly spread over the split) the exports are checked on."""
FORMATS = ("torchscript", "onnx")
CALIBRATION_BATCH = 64
RETRAIN_SPLITS = ("train", "validation")
"""What --retrain trains on: the trial's config over train + validation, for its best epoch count."""


class ExportError(UserError):
    """The experiment cannot be exported as asked; `str()` is the one-line message for the user."""


def export_experiment(experiment: str, out: str, *, trial: Optional[str] = None, retrain: bool = False,
                      device: Optional[str] = None, formats: Sequence[str] = FORMATS, pick: Optional[str] = None) -> dict:
    """Write the model package of the chosen trial into `out`; returns its package.json contents.

    `pick` is a rule (`fastest-within 0.01`, see results.pareto) naming the trial instead of `trial`.
    """
    c = collect(experiment)
    row = picked_trial(c, parse_pick(pick)) if pick is not None else choose_trial(c, trial)
    data = open_trial_data(c)
    out_dir = claim_folder(out)
    if retrain:
        trainer, source, metrics = _retrained(c, row, data, device)
    else:
        trainer, source, metrics = _from_checkpoint(c, row, data, device)
    model = cpu_model(trainer.deployable_model())  # the weight average, post-hoc adjustment folded in: as measured
    meta = {"source": source, "metrics": metrics, "calibration": fit_calibration(data, model),
            "created_at": _now(), "versions": _versions()}
    write_package(out_dir, model, trainer.cfg, data.classes, meta)
    info = {**_read_meta(out_dir), "exports": export_and_check(model, check_batch(data, model), out_dir, formats)}
    write_meta(out_dir, info)
    _record_calibration(c, info)
    return info


def choose_trial(c: Collected, trial: Optional[str] = None) -> pd.Series:
    """The best trial that kept a checkpoint, or the one whose id is (or starts with) `trial`."""
    ranked = rank_trials(c.trials, c.metric, c.mode)
    if trial is None:
        usable = ranked[ranked["checkpoint"].notna()]
        if usable.empty:
            raise ExportError(f"{c.location}: no trial has a value of {c.metric} and a kept checkpoint "
                              f"({len(c.trials)} trials)")
        return usable.iloc[0]
    ids = c.trials["trial_id"].astype(str)
    match = c.trials[(ids == trial) | ids.str.startswith(trial)]
    if len(match) != 1:
        known = ", ".join(ids.tolist()) or "none"
        raise ExportError(f"--trial {trial!r} matches {len(match)} trials of {c.location}; trial ids: {known}")
    row = match.iloc[0]
    if not isinstance(row.get("checkpoint"), str):
        raise ExportError(f"trial {row['trial_id']} of {c.location} kept no checkpoint to export")
    return row


def picked_trial(c: Collected, rule: PickRule) -> pd.Series:
    """The trial `rule` names among the finished trials that kept a checkpoint (stopped ones score a low rung)."""
    usable = c.trials[(c.trials["status"] == COMPLETED) & c.trials["checkpoint"].notna()]
    row = pick_trial(usable, rule, Objective(f"best_{c.metric}", c.mode))
    log.info("--pick %s names trial %s", rule.kind, row["trial_id"])
    return row


def cpu_model(model: torch.nn.Module) -> torch.nn.Module:
    """A float32, contiguous, eval-mode CPU copy of the model (exports are traced and checked on CPU)."""
    return copy.deepcopy(model).to("cpu", dtype=torch.float32, memory_format=torch.contiguous_format).eval()


def check_batch(data: PreparedData, model: torch.nn.Module, n: int = CHECK_IMAGES) -> torch.Tensor:
    """Up to n real test images, evenly spread over the split, preprocessed by the evaluation loader."""
    split = data.split("test")
    if len(split) == 0:
        split = data.split("validation")
    if len(split) == 0:
        raise ExportError(f"{data.path}: the test and validation splits are empty; nothing to check the exports on")
    idx = np.unique(np.linspace(0, len(split) - 1, min(n, len(split))).round().astype(np.int64))
    dc = model.data_config
    loader = BatchLoader(split, batch_size=len(idx), device="cpu", mean=dc["mean"], std=dc["std"],
                         out_size=dc["input_size"][-1], prefetch=False)
    x, _ = next(loader.iterate(idx))
    return x


def fit_calibration(data: PreparedData, model: torch.nn.Module) -> Optional[dict]:
    """Temperature scaling on the packaged model's validation logits (what predict computes); None without validation."""
    split = data.split("validation")
    if len(split) == 0:
        log.warning("%s: the validation split is empty; the package is not calibrated (temperature 1)", data.path)
        return None
    dc = model.data_config
    loader = BatchLoader(split, batch_size=CALIBRATION_BATCH, device="cpu", mean=dc["mean"], std=dc["std"],
                         out_size=dc["input_size"][-1], prefetch=False)
    with torch.no_grad():
        batches = [(model(x), y) for x, y in loader.iterate()]
    logits = torch.cat([z for z, _ in batches]).double().numpy()
    fit = calibrate(logits, torch.cat([y for _, y in batches]).numpy())
    log.info("calibration: temperature %.3f, ECE (%d bins) %.4f -> %.4f on %d validation images", fit["temperature"],
             fit["bins"], fit["ece_before"], fit["ece_after"], fit["images"])
    return fit


def _record_calibration(c: Collected, info: Mapping[str, Any]) -> None:
    """The experiment's results/calibration.json, beside evaluation.json: what the report shows (results reads files)."""
    if not info.get("calibration"):
        return
    record = {"trial_id": info["source"]["trial_id"], "exported_at": info["created_at"], **info["calibration"]}
    open_experiment(c.location).write_text(json.dumps(record, indent=1), RESULTS_DIR, CALIBRATION_FILE)


def export_and_check(model: torch.nn.Module, x: torch.Tensor, out_dir: Path, formats: Sequence[str]) -> dict:
    """Write each export, reload it, and compare its logits with the model's on x and on x[:1]."""
    with torch.no_grad():
        reference = model(x)
    report: dict[str, Any] = {"tolerance": TOLERANCE, "images": int(x.shape[0])}
    for name in formats:
        run = {"torchscript": _torchscript, "onnx": _onnx}[name](model, x, out_dir)
        diff = max(_max_diff(run(x), reference), _max_diff(run(x[:1]), reference[:1]))
        report[name] = {**run.info, "max_abs_diff": diff, "ok": bool(diff < TOLERANCE)}
        log.info("%s: max |logit diff| %.3g on %d real images (tolerance %g)", name, diff, x.shape[0], TOLERANCE)
    return report


# ---------------------------------------------------------------- choosing and building the model


def _from_checkpoint(c: Collected, row: pd.Series, data: PreparedData, device: Optional[str]):
    """The trial's kept checkpoint, with validation and test measured on the packaged weights."""
    trainer = load_trial(c, row, data, device)
    epoch = checkpoint_epoch(c, row)
    source = _source(c, row, retrained=False, epoch=epoch)
    metrics = {"validation": summary(trainer.evaluate("validation")),
               "validation_from": "the packaged weights on the validation split",
               "sweep_reported": _sweep_metrics(c, row, epoch),
               **_test_metrics(trainer)}
    return trainer, source, metrics


def _retrained(c: Collected, row: pd.Series, data: PreparedData, device: Optional[str]):
    """The trial's configuration trained afresh on train + validation for its best epoch count, tested once."""
    from model.trainer import Trainer

    epochs = row.get("best_epoch")
    if not present(epochs):
        raise ExportError(f"trial {row['trial_id']} has no best epoch (no value of {c.metric}); cannot retrain it")
    cfg = with_overrides(trial_run_config(c, row), {"train.epochs": int(epochs)}, source="--retrain")
    log.info("retraining trial %s on train + validation for %d epochs", row["trial_id"], int(epochs))
    trainer = Trainer(cfg, data, device=device, train_on=RETRAIN_SPLITS)
    result = trainer.fit()
    if result.status != COMPLETED:
        raise ExportError(f"retraining trial {row['trial_id']} ended {result.status}: "
                          f"{result.final.get('diverged_reason', 'see the log')}")
    source = {**_source(c, row, retrained=True, epoch=int(epochs)), "checkpoint": None, "retrain_epochs": int(epochs),
              "retrain_images": len(trainer.train_loader.split)}
    metrics = {"validation": _sweep_metrics(c, row, int(epochs)),
               "validation_from": "the sweep trial at its best epoch (the retrained model trained on validation)",
               **_test_metrics(trainer)}
    return trainer, source, metrics


def _test_metrics(trainer) -> dict:
    raw = trainer.evaluate("test")
    return {"test": summary(raw), "test_images": raw["images"], "test_per_class": raw.get("per_class"),
            "test_confusion": raw.get("confusion")}


def _sweep_metrics(c: Collected, row: pd.Series, epoch: Optional[int]) -> dict[str, float]:
    """The epoch metrics the trial reported during the sweep at `epoch` (its best one when None)."""
    epochs = c.epochs[c.epochs["trial_id"] == row["trial_id"]]
    if epoch is not None and (epochs[EPOCH] == epoch).any():
        chosen = epochs[epochs[EPOCH] == epoch].iloc[-1]
        return {"epoch": int(epoch), **{m: float(chosen[m]) for m in EPOCH_METRICS if present(chosen.get(m))}}
    return {"epoch": _int_or_none(row.get("best_epoch")),
            **{m: float(row[f"best_{m}"]) for m in EPOCH_METRICS if present(row.get(f"best_{m}"))}}


def _source(c: Collected, row: pd.Series, *, retrained: bool, epoch: Optional[int]) -> dict:
    return {"experiment": c.location, "trial_id": str(row["trial_id"]), "checkpoint": row.get("checkpoint"),
            "checkpoint_is_best": bool(row.get("checkpoint_is_best")), "epoch": epoch,
            "best_epoch": _int_or_none(row.get("best_epoch")), "metric": c.metric, "mode": c.mode,
            f"best_{c.metric}": _float_or_none(row.get(f"best_{c.metric}")), "retrained": retrained,
            "params": trial_params(c, row)}


# ---------------------------------------------------------------- exports


class _Runner:
    """A loaded export: call it with a batch, read `info` for what was written."""

    def __init__(self, fn, info: dict):
        self.fn, self.info = fn, info

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _torchscript(model: torch.nn.Module, x: torch.Tensor, out_dir: Path) -> _Runner:
    path = out_dir / TORCHSCRIPT_FILE
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings on fixed-size shape checks: the input size is fixed
        traced = torch.jit.trace(model, x[:2], check_trace=False)
        torch.jit.save(traced, str(path))
        loaded = torch.jit.load(str(path), map_location="cpu").eval()

    def run(batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return loaded(batch)

    return _Runner(run, {"file": TORCHSCRIPT_FILE, "input_shape": ["batch", *x.shape[1:]]})


def _onnx(model: torch.nn.Module, x: torch.Tensor, out_dir: Path) -> _Runner:
    import onnxruntime as ort

    path = out_dir / ONNX_FILE
    exporter = _export_onnx(model, x[:2], path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run([ONNX_OUTPUT], {ONNX_INPUT: batch.numpy()})[0])

    return _Runner(run, {"file": ONNX_FILE, "exporter": exporter, "input": ONNX_INPUT, "output": ONNX_OUTPUT,
                         "input_shape": ["batch", *x.shape[1:]]})


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> str:
    """torch.export-based exporter (torch's default); the TorchScript-based one if that cannot capture the model."""
    names = dict(input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (example,), str(path), dynamo=True, verbose=False, external_data=False, **names,
                              dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
            return "dynamo"
        except Exception as err:  # noqa: BLE001 - any capture failure: fall back, and say why
            log.warning("torch.export-based ONNX export failed (%s); using the TorchScript-based exporter",
                        str(err).splitlines()[0] if str(err) else type(err).__name__)
        torch.onnx.export(model, (example,), str(path), dynamo=False, **names,
                          dynamic_axes={ONNX_INPUT: {0: "batch"}, ONNX_OUTPUT: {0: "batch"}})
    return "torchscript"


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return math.inf
    return float((a.float() - b.float()).abs().max())


# ---------------------------------------------------------------- helpers


def _read_meta(out_dir: Path) -> dict:
    return json.loads((out_dir / META_FILE).read_text(encoding="utf-8"))


def _versions() -> dict:
    import timm

    return {"torch": torch.__version__, "timm": timm.__version__}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _int_or_none(value: Any) -> Optional[int]:
    return int(value) if present(value) else None


def _float_or_none(value: Any) -> Optional[float]:
    return float(value) if present(value) else None


def _print_summary(info: Mapping[str, Any], out: str) -> None:
    src, metrics = info["source"], info["metrics"]
    how = f"retrained on train+validation for {src['retrain_epochs']} epochs" if src["retrained"] else \
        f"checkpoint of epoch {src['epoch']}"
    test = metrics.get("test", {})
    print(f"exported trial {src['trial_id']} ({how}) -> {out}")
    print(f"test: accuracy {test.get('acc', math.nan):.4f}, macro-F1 {test.get('f1', math.nan):.4f} "
          f"on {metrics.get('test_images')} images")
    cal = info.get("calibration")
    if cal:
        print(f"calibration: temperature {cal['temperature']:.3f}, ECE {cal['ece_before']:.4f} -> "
              f"{cal['ece_after']:.4f} on {cal['images']} validation images")
    exports = info.get("exports", {})
    for name in FORMATS:
        if name in exports:
            e = exports[name]
            print(f"{name}: max |logit diff| vs PyTorch {e['max_abs_diff']:.3g} on {exports['images']} real images "
                  f"({'ok' if e['ok'] else 'FAILED'}, tolerance {exports['tolerance']:g})")


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", help="experiment directory (<storage>/<name>, local path or s3:// URI)")
    parser.add_argument("--out", required=True, help="package folder to write (new, empty, or a package it wrote, which is replaced)")
    parser.add_argument("--trial", help="trial id (or a unique prefix) to export instead of the best one")
    parser.add_argument("--pick", metavar="RULE",
                        help="pick the trial by a rule instead: 'fastest-within TOL' (lowest latency_ms among finished "
                             "trials within TOL of the best metric, e.g. 0.01 = one point of macro-F1), "
                             "'smallest-within TOL' (fewest parameters), or 'best'")
    parser.add_argument("--retrain", action="store_true",
                        help="train the trial's config on train + validation for its best epoch count, test once")
    parser.add_argument("--device", help="cpu, cuda or cuda:N for loading / retraining (default: train.device)")
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help=f"comma-separated exports besides the weights (default {','.join(FORMATS)}; '' for none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("onnx_ir", "onnxscript", "torch.onnx"):  # per-pass INFO lines of the ONNX exporter
        logging.getLogger(noisy).setLevel(logging.WARNING)
    formats = [f for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"--formats names {', '.join(unknown)}; valid formats: {', '.join(FORMATS)}")
    if args.pick is not None and args.trial is not None:
        raise ExportError("--pick and --trial both name a trial: give one of them")
    info = export_experiment(args.experiment, args.out, trial=args.trial, retrain=args.retrain,
                             device=args.device, formats=formats, pick=args.pick)
    _print_summary(info, args.out)
    exports = info.get("exports", {})
    return 0 if all(exports[f]["ok"] for f in formats) else 1


if __name__ == "__main__":
    sys.exit(main())

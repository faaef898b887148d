"""The report's gallery of confusions: which classes the best trial mixes up, with the photos it got wrong.

For the best trial: on validation, the per-image predictions stored beside the checkpoint the tables chose
(its best epoch when Ray kept it; `predictions.json`, written by the trainer); on test, those stored in its
results/evaluation.json entry once `deploy.evaluate` ran. Per split: the most confused (true, predicted)
class pairs with their counts and, per pair, the photos it was most confident about while wrong, as small
JPEG data URIs (results/data_page.py's thumbnails) read from the prepared cache the sweep trained on.

For the confirmed winner (`search.confirm`'s first-ranked configuration): the validation predictions of all
its seeds pooled, so a pair's count is over every seed and the photos first shown are those wrong in the most
seeds (a photo every seed gets wrong the same way is as likely a labelling question as a model one).

Bounded: TOP_PAIRS pairs per split, PER_PAIR thumbnails of THUMB_PX per pair (at most 3 x 6 x 6 photos).
"""
from __future__ import annotations

import html
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from core.layout import PREDICTIONS_FILE
from core.storage import ExperimentError, open_experiment
from data_pipeline.cache import PreparedData
from results.collect import Collected
from results.confirm import Confirmation
from results.data_page import THUMB_PX, thumbnail_uri

log = logging.getLogger(__name__)

TOP_PAIRS = 6
PER_PAIR = 6
COLUMNS = ("index", "true", "pred", "confidence")


@dataclass(frozen=True)
class Predictions:
    """One split's per-image predictions: positions in the prepared cache's split, classes, confidence."""

    split: str
    index: np.ndarray
    true: np.ndarray
    pred: np.ndarray
    confidence: np.ndarray
    epoch: Optional[int] = None
    runs: int = 1
    """How many runs' predictions these are (pooled(): the seeds of one configuration, one after another)."""

    def __len__(self) -> int:
        return len(self.index)

    @property
    def wrong(self) -> int:
        return int((self.true != self.pred).sum())


def parse_predictions(record: Any, source: str) -> Predictions:
    """A stored predictions record (core.layout.PREDICTIONS_FILE) as arrays; ValueError naming what is wrong."""
    if not isinstance(record, Mapping):
        raise ValueError(f"{source}: predictions are {type(record).__name__}, but must be a JSON object")
    missing = [k for k in COLUMNS if not isinstance(record.get(k), list)]
    if missing:
        raise ValueError(f"{source}: predictions lack the column(s) {', '.join(missing)}")
    lengths = {k: len(record[k]) for k in COLUMNS}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{source}: prediction columns differ in length ({lengths})")
    try:
        index, true, pred = (np.asarray(record[k], dtype=np.int64) for k in COLUMNS[:3])
        confidence = np.asarray(record["confidence"], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: predictions are not numbers ({err})") from None
    epoch = record.get("epoch")
    return Predictions(str(record.get("split", "")), index, true, pred, confidence,
                       int(epoch) if isinstance(epoch, int) else None)


def confused_pairs(p: Predictions, top: int = TOP_PAIRS) -> list[tuple[int, int, int]]:
    """The `top` (true class, predicted class, images) pairs among the wrong predictions, most images first;
    ties in class order, so the same predictions give the same report."""
    wrong = p.true != p.pred
    counts = Counter(zip(p.true[wrong].tolist(), p.pred[wrong].tolist()))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(t, q, n) for (t, q), n in ranked[:top]]


def most_confident_wrong(p: Predictions, true: int, pred: int, n: int = PER_PAIR) -> list[tuple[int, float, int]]:
    """Up to n (cache index, confidence, runs) of the images of class `true` predicted as `pred`: those wrong this
    way in the most runs first, then the most confident (mean over those runs). One run: by confidence alone."""
    rows = np.flatnonzero((p.true == true) & (p.pred == pred))
    by_image: dict[int, list[float]] = {}
    for r in rows.tolist():
        by_image.setdefault(int(p.index[r]), []).append(float(p.confidence[r]))
    ranked = sorted(by_image.items(), key=lambda item: (-len(item[1]), -float(np.mean(item[1])), item[0]))[:n]
    return [(index, float(np.mean(confidences)), len(confidences)) for index, confidences in ranked]


def pooled(found: list[Predictions]) -> Optional[Predictions]:
    """One split's predictions of several runs as one (counts add up over runs), or None when there are none."""
    if not found:
        return None
    if len({p.split for p in found}) != 1:
        raise ValueError(f"cannot pool predictions of different splits: {sorted({p.split for p in found})}")
    return Predictions(found[0].split, *(np.concatenate([getattr(p, k) for p in found])
                                          for k in ("index", "true", "pred", "confidence")),
                       epoch=None, runs=sum(p.runs for p in found))


def check_against(p: Predictions, data: PreparedData) -> str:
    """'' when the predictions can index `data`'s split and classes, else why not (a different cache)."""
    if p.split not in ("validation", "test"):
        return f"split {p.split!r} is not validation or test"
    size, classes = len(data.split(p.split)), len(data.classes)
    if not len(p):
        return ""
    if p.index.min() < 0 or p.index.max() >= size:
        return f"image indexes reach {int(p.index.max())}, but the cache's {p.split} split has {size} images"
    labels = np.concatenate([p.true, p.pred])
    if labels.min() < 0 or labels.max() >= classes:
        return f"class indexes reach {int(labels.max())}, but the cache has {classes} classes"
    return ""


def best_trial_predictions(c: Collected) -> tuple[Optional[str], list[Predictions]]:
    """The best trial's id and its stored predictions: validation (its chosen checkpoint's), then test."""
    best = c.best_trial()
    if best is None:
        return None, []
    found = [checkpoint_predictions(c.location, best.get("checkpoint"))]
    entry = next((e for e in (c.evaluation or {}).get("trials", []) if e.get("trial_id") == best["trial_id"]), None)
    if entry is not None and entry.get("predictions") is not None:
        found.append(_parsed(lambda: entry["predictions"], f"{c.location}/results/evaluation.json"))
    return str(best["trial_id"]), [p for p in found if p is not None]


def checkpoint_predictions(location: str, checkpoint: Any) -> Optional[Predictions]:
    """The predictions.json beside a trial's checkpoint (a folder relative to the experiment), if it has one."""
    if not (isinstance(checkpoint, str) and checkpoint):
        return None
    return _parsed(lambda: open_experiment(location).read_json(*checkpoint.split("/"), PREDICTIONS_FILE),
                   f"{location}/{checkpoint}/{PREDICTIONS_FILE}")


def _parsed(read: Any, where: str) -> Optional[Predictions]:
    try:
        record = read()
        return None if record is None else parse_predictions(record, where)
    except (ExperimentError, OSError, ValueError) as err:
        log.warning("%s; the gallery leaves these predictions out", err)
        return None


def confirmed_winner_predictions(confirmation: Confirmation) -> tuple[Optional[str], Optional[Predictions]]:
    """The confirmed winner's sweep trial id and the validation predictions of its seeds' runs, pooled."""
    winner = confirmation.winner()
    if winner is None:
        return None, None
    runs = confirmation.runs
    checkpoints = dict(zip(runs.trials["trial_id"].astype(str), runs.trials["checkpoint"]))
    found = [checkpoint_predictions(runs.location, checkpoints.get(run_id))
             for run_id in confirmation.sources.get(winner, ())]
    return winner, pooled([p for p in found if p is not None and p.split == "validation"])


def gallery_html(c: Collected, data: PreparedData) -> Optional[str]:
    """The gallery's HTML for the best trial, or None when the experiment has no best trial."""
    trial_id, found = best_trial_predictions(c)
    if trial_id is None:
        return None
    return _gallery_html(f"trial {trial_id}", trial_id, found, data)


def confirmed_gallery_html(confirmation: Confirmation, data: PreparedData) -> Optional[str]:
    """The gallery's HTML for the confirmed winner over its seeds, or None before any of its seeds counted."""
    winner, found = confirmed_winner_predictions(confirmation)
    if winner is None:
        return None
    seeds = f"{found.runs} seed{'s' if found.runs != 1 else ''}" if found is not None else "its seeds"
    return _gallery_html(f"confirmed winner (sweep trial {winner}), {seeds} pooled", winner,
                         [found] if found is not None else [], data)


def _gallery_html(subject: str, trial_id: str, found: list[Predictions], data: PreparedData) -> str:
    title = f"<h3>Most confused classes: {html.escape(subject)}</h3>"
    usable = []
    for p in found:
        problem = check_against(p, data)
        if problem:
            log.warning("%s predictions of trial %s do not fit the prepared cache (%s); left out", p.split, trial_id,
                        problem)
        else:
            usable.append(p)
    if not usable:
        return (f"<div class='gallery'>{title}<p class='note'>No per-image predictions for this trial (a replayed "
                "sweep, or one written before the trainer stored them beside its checkpoints).</p></div>")
    return f"<div class='gallery'>{title}{''.join(_split_html(p, data) for p in usable)}</div>"


def _split_html(p: Predictions, data: PreparedData) -> str:
    pairs = confused_pairs(p)
    epoch = f", epoch {p.epoch}" if p.epoch else ""
    wrong, order = (f"{p.wrong} of {len(p)} images wrong", "most confident first") if p.runs == 1 else (
        f"{p.wrong} of {len(p)} predictions wrong ({p.runs} runs of {len(p) // p.runs} images)",
        "wrong in the most runs first, then most confident")
    head = (f"<h4>{html.escape(p.split.capitalize())}{epoch}: {wrong}; the "
            f"{len(pairs)} most confused pairs, up to {PER_PAIR} photos each ({THUMB_PX} px), {order}</h4>")
    if not pairs:
        return head + "<p>No wrong predictions.</p>"
    support = Counter(p.true.tolist())
    names = data.classes
    rows = "".join(f"<tr><td>{html.escape(names[t])}</td><td>{html.escape(names[q])}</td><td class=num>{n}</td>"
                   f"<td class=num>{n / support[t]:.0%}</td></tr>" for t, q, n in pairs)
    table = (f"<table class='confused-pairs' data-split='{html.escape(p.split)}'><thead><tr><th>true class</th>"
             f"<th>predicted as</th><th>images</th><th>of the true class</th></tr></thead><tbody>{rows}</tbody></table>")
    split = data.split(p.split)
    cells = []
    for t, q, n in pairs:
        label = f"{names[t]} predicted as {names[q]}"
        thumbs = "".join(f"<img class='thumb' alt='{html.escape(label)}' "
                         f"title='{html.escape(f'{split.paths[i]}: {names[q]} {conf:.0%}{_in_runs(k, p.runs)}')}' "
                         f"src='{thumbnail_uri(split.images[i])}'>" for i, conf, k in most_confident_wrong(p, t, q))
        cells.append(f"<div class='confused-pair'><b>{html.escape(names[t])} &rarr; {html.escape(names[q])}</b> "
                     f"({n})<br>{thumbs}</div>")
    return f"{head}{table}<div class='sample-grid'>{''.join(cells)}</div>"


def _in_runs(k: int, runs: int) -> str:
    return "" if runs == 1 else f", wrong so in {k} of {runs} runs"

"""Plotly figures of one experiment. Each function takes collected data and returns a Figure (None: no data).

Every figure has axis titles with units and a legend; with 100 trials the per-trial traces are WebGL
(`Scattergl` past `WEBGL_FROM` trials: browsers keep only ~16 WebGL contexts per page, so small
figures stay SVG), thin and translucent, and the legend lists statuses, not trials.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.names import (
    COMPLETED,
    DIVERGED,
    EARLY_STOPPED,
    EPOCH,
    FAILED,
    LATENCY_BATCH_MS,
    LATENCY_MS,
    PARAMS_M,
    RUNNING,
    SERVING_BATCH,
    TIMED_OUT,
    TRAIN_ACC,
    TRAIN_LOSS,
    VAL_ACC,
    VAL_F1,
    VAL_LOSS,
    VAL_PRECISION,
    VAL_RECALL,
)
from results.collect import Collected
from results.pareto import Objective, finished_front, sweep_objectives

STATUS_COLORS = {COMPLETED: "#1f77b4", EARLY_STOPPED: "#ff7f0e", DIVERGED: "#d62728", TIMED_OUT: "#9467bd",
                 FAILED: "#7f7f7f", RUNNING: "#2ca02c"}
WEBGL_FROM = 30
"""Learning curves switch to WebGL from this many trials on."""
LABELS = {VAL_F1: "validation macro-F1", VAL_ACC: "validation accuracy", VAL_LOSS: "validation loss",
          TRAIN_ACC: "train accuracy", TRAIN_LOSS: "train loss", VAL_PRECISION: "validation macro precision",
          VAL_RECALL: "validation macro recall"}
COST_LABELS = {LATENCY_MS: "latency (ms per image, batch 1)",
               LATENCY_BATCH_MS: f"latency (ms per image, batch {SERVING_BATCH})", PARAMS_M: "parameters (millions)"}


def metric_label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height, template="plotly_white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), margin=dict(t=90))
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def _whole_ticks(fig: go.Figure, largest: float, **where: int) -> None:
    """Epochs and trial numbers are counts: no 1.5 ticks on short axes."""
    if pd.notna(largest) and largest <= 20:
        fig.update_xaxes(dtick=1, **where)


def _scored(c: Collected) -> pd.DataFrame:
    column = f"best_{c.metric}"
    return c.trials[c.trials[column].notna()] if column in c.trials else c.trials.iloc[0:0]


def _best_so_far(values: pd.Series, mode: str) -> pd.Series:
    return values.cummax() if mode == "max" else values.cummin()


def history_by_trial(c: Collected) -> Optional[go.Figure]:
    """Each trial's best value of the sweep metric by trial number (start order), with the best so far."""
    t = _scored(c).sort_values("trial_number")
    if t.empty:
        return None
    y = t[f"best_{c.metric}"]
    fig = go.Figure()
    for status, group in t.groupby("status", sort=False):
        fig.add_trace(go.Scatter(x=group["trial_number"], y=group[f"best_{c.metric}"], mode="markers",
                                   name=f"trial ({status.replace('_', ' ')})", text=group["trial_id"],
                                   marker=dict(color=STATUS_COLORS.get(status), size=7)))
    fig.add_trace(go.Scatter(x=t["trial_number"], y=_best_so_far(y, c.mode), mode="lines", line_shape="hv",
                             name="best so far", line=dict(color="black", width=2)))
    _whole_ticks(fig, t["trial_number"].max())
    return _layout(fig, f"Optimization history: {metric_label(c.metric)} by trial",
                   "trial number (in start order)", f"{metric_label(c.metric)} at the trial's best epoch")


def history_by_time(c: Collected) -> Optional[go.Figure]:
    """Best value so far against the experiment's wall-clock time (minutes since the sweep started)."""
    t = _scored(c)
    t = t[t["ended_after_s"].notna()].sort_values("ended_after_s")
    if t.empty:
        return None
    minutes = t["ended_after_s"] / 60.0
    fig = go.Figure([
        go.Scatter(x=minutes, y=t[f"best_{c.metric}"], mode="markers", name="trial (at its last report)",
                     text=t["trial_id"], marker=dict(color="#1f77b4", size=7, opacity=0.7)),
        go.Scatter(x=minutes, y=_best_so_far(t[f"best_{c.metric}"], c.mode), mode="lines", line_shape="hv",
                   name="best so far", line=dict(color="black", width=2)),
    ])
    return _layout(fig, f"Optimization history: {metric_label(c.metric)} over wall-clock time",
                   "wall-clock time since the sweep started (minutes)", metric_label(c.metric))


def best_by_epochs_spent(c: Collected) -> Optional[go.Figure]:
    """The anytime curve: best value so far against epochs spent by the whole sweep, in the order reported.

    What search efficiency is measured in (docs/BENCHMARKS.md): a search that stops weak trials early reaches a
    good value with fewer epochs. Order: Ray's report timestamp (to the second), then trial start, then epoch.
    """
    e = c.epochs
    if e.empty or c.metric not in e or e[c.metric].notna().sum() == 0:
        return None
    start = dict(zip(c.trials["trial_id"], c.trials["trial_number"])) if "trial_number" in c.trials else {}
    order = e.assign(_ts=pd.to_numeric(e.get("timestamp"), errors="coerce"), _start=e["trial_id"].map(start))
    order = order.sort_values(["_ts", "_start", EPOCH], kind="stable", na_position="last").reset_index(drop=True)
    spent = pd.Series(range(1, len(order) + 1))
    best = _best_so_far(order[c.metric].ffill(), c.mode)
    fig = go.Figure([go.Scatter(x=spent, y=best, mode="lines", line_shape="hv", name="best so far",
                                line=dict(color="black", width=2))])
    return _layout(fig, f"Best {metric_label(c.metric)} so far against epochs spent",
                   "epochs spent by the sweep (all trials, in the order reported)", metric_label(c.metric))


def parallel_coordinates(c: Collected, log_params: Sequence[str] = ()) -> Optional[go.Figure]:
    """Hyperparameters against the sweep metric; categorical values are encoded as ticks, log-scale ones as log10."""
    t = _scored(c)
    if t.empty or not c.params:
        return None
    dims = [_dimension(key, t[f"param_{key}"], key in log_params) for key in c.params]
    values = t[f"best_{c.metric}"].astype(float)
    dims.append(dict(label=metric_label(c.metric), values=values))
    fig = go.Figure(go.Parcoords(
        dimensions=[d for d in dims if d is not None],
        line=dict(color=values, colorscale="Viridis", showscale=True,
                  colorbar=dict(title=dict(text=metric_label(c.metric)))),
    ))
    fig.update_layout(title=f"Hyperparameters against {metric_label(c.metric)} (one line per trial)",
                      height=460, template="plotly_white", margin=dict(t=100, l=60, r=60))
    return fig


def _dimension(key: str, column: pd.Series, log: bool) -> Optional[dict]:
    present = column.dropna()
    if present.empty:
        return dict(label=key, values=[0.0] * len(column))
    if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in present):
        values = column.astype(float)
        if log and (values.dropna() > 0).all():
            return dict(label=f"log10({key})", values=np.log10(values))
        return dict(label=key, values=values)
    categories = sorted({str(v) for v in present})
    code = {name: i for i, name in enumerate(categories)}
    return dict(label=f"{key} (categorical)", values=[code.get(str(v), -1) for v in column],
                tickvals=list(range(len(categories))), ticktext=categories,
                range=[-0.5, len(categories) - 0.5])


def importance(importances: Mapping[str, float], reason: Optional[str] = None) -> go.Figure:
    """Horizontal bars of hyperparameter importance (share of the metric's variance; sums to 1)."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                           name="importance (Optuna's default evaluator)", marker_color="#1f77b4"))
    fig.update_layout(showlegend=True)
    if not items:
        fig.add_annotation(text=f"not available: {reason}", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return _layout(fig, "Hyperparameter importance (Optuna, completed trials)",
                   "importance (share of explained variance, sums to 1)", "hyperparameter", height=360)


def learning_curves(c: Collected, metric: Optional[str] = None) -> Optional[go.Figure]:
    """The sweep metric per epoch for every trial, coloured by status, with markers where ASHA stopped trials."""
    metric = metric or c.metric
    e = c.epochs
    if e.empty:
        return None
    status_of = dict(zip(c.trials["trial_id"], c.trials["status"]))
    scatter = go.Scattergl if e["trial_id"].nunique() >= WEBGL_FROM else go.Scatter
    fig = go.Figure()
    shown: set[str] = set()
    for trial_id, group in e.groupby("trial_id", sort=False):
        status = status_of.get(trial_id, RUNNING)
        fig.add_trace(scatter(
            x=group[EPOCH], y=group[metric], mode="lines+markers", name=status.replace("_", " "), legendgroup=status,
            showlegend=status not in shown, hovertext=trial_id, hoverinfo="x+y+text", marker=dict(size=3),
            line=dict(color=STATUS_COLORS.get(status, "#333"), width=1), opacity=0.6))
        shown.add(status)
    stopped = c.trials[c.trials["status"] == EARLY_STOPPED]
    last = e.sort_values(EPOCH).groupby("trial_id").tail(1).set_index("trial_id")
    stops = last.loc[last.index.intersection(stopped["trial_id"])]
    if len(stops):
        fig.add_trace(scatter(x=stops[EPOCH], y=stops[metric], mode="markers", name="stopped by ASHA",
                                   text=list(stops.index), marker=dict(symbol="x", size=9, color="#ff7f0e")))
    _whole_ticks(fig, e[EPOCH].max())
    return _layout(fig, f"Learning curves: {metric_label(metric)} of every trial", "epoch", metric_label(metric))


def _best_epochs(c: Collected) -> Optional[pd.DataFrame]:
    best = c.best_trial()
    if best is None:
        return None
    return c.epochs[c.epochs["trial_id"] == best["trial_id"]].sort_values(EPOCH)


def best_precision_recall_f1(c: Collected) -> Optional[go.Figure]:
    """Validation macro precision, recall and F1 per epoch of the best trial."""
    e = _best_epochs(c)
    if e is None or e.empty:
        return None
    fig = go.Figure([go.Scatter(x=e[EPOCH], y=e[m], mode="lines+markers", name=metric_label(m))
                     for m in (VAL_PRECISION, VAL_RECALL, VAL_F1)])
    _whole_ticks(fig, e[EPOCH].max())
    return _layout(fig, f"Best trial {e['trial_id'].iloc[0]}: validation precision / recall / F1 per epoch",
                   "epoch", "macro average (0-1)")


def best_accuracy_loss(c: Collected) -> Optional[go.Figure]:
    """Train and validation accuracy (left) and loss (right) per epoch of the best trial."""
    e = _best_epochs(c)
    if e is None or e.empty:
        return None
    fig = make_subplots(rows=1, cols=2, subplot_titles=("accuracy", "loss"))
    for col, (train, val) in enumerate([(TRAIN_ACC, VAL_ACC), (TRAIN_LOSS, VAL_LOSS)], start=1):
        for name, dash in ((train, "solid"), (val, "dash")):
            fig.add_trace(go.Scatter(x=e[EPOCH], y=e[name], mode="lines+markers", name=metric_label(name),
                                     line=dict(dash=dash)), row=1, col=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
        _whole_ticks(fig, e[EPOCH].max(), row=1, col=col)
    fig.update_yaxes(title_text="accuracy (0-1)", row=1, col=1)
    fig.update_yaxes(title_text="cross-entropy loss", row=1, col=2)
    fig.update_layout(title=f"Best trial {e['trial_id'].iloc[0]}: train and validation accuracy and loss",
                      height=460, template="plotly_white",
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), margin=dict(t=80, b=120))
    return fig


def confusion_matrix(entry: Mapping[str, Any]) -> Optional[go.Figure]:
    """The test confusion matrix of one evaluated trial (rows: true class, columns: predicted)."""
    matrix, classes = entry.get("confusion"), entry.get("classes")
    if not matrix or not classes:
        return None
    fig = go.Figure(go.Heatmap(z=matrix, x=classes, y=classes, colorscale="Blues", text=matrix,
                               texttemplate="%{text}", colorbar=dict(title=dict(text="images")),
                               name="test images", showlegend=True, showscale=True))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, f"Test confusion matrix of trial {entry.get('trial_id')}", "predicted class",
                   "true class", height=520)


def per_class_f1(entry: Mapping[str, Any]) -> Optional[go.Figure]:
    """Per-class test precision, recall and F1 of one evaluated trial."""
    rows = entry.get("per_class") or []
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    fig = go.Figure([go.Bar(x=frame["class"], y=frame[m], name=f"test {m}") for m in ("precision", "recall", "f1")
                     if m in frame])
    fig.update_layout(barmode="group")
    return _layout(fig, f"Per-class test scores of trial {entry.get('trial_id')}", "class", "score (0-1)")


def reliability_diagram(calibration: Mapping[str, Any]) -> Optional[go.Figure]:
    """Accuracy against confidence per bin, before and after temperature scaling (deploy.export's calibration)."""
    if not calibration or not calibration.get("reliability_after"):
        return None
    t = calibration.get("temperature", 1.0)
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                               line=dict(dash="dot", color="#999")))
    for key, label in (("reliability_before", "raw softmax"), ("reliability_after", f"temperature {t:.2f}")):
        bins = [b for b in calibration.get(key) or [] if b.get("count")]
        ece = calibration.get(key.replace("reliability", "ece"))
        fig.add_trace(go.Scatter(x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins],
                                 mode="lines+markers", name=f"{label} (ECE {ece:.3f})" if ece is not None else label,
                                 text=[f"{b['count']} images" for b in bins]))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, f"Reliability on {calibration.get('images')} validation images, trial "
                   f"{calibration.get('trial_id')} ({calibration.get('bins')} bins)", "mean confidence (0-1)",
                   "accuracy (0-1)")


def class_counts(classes: Sequence[str], before: Sequence[float], after: Sequence[float], strategy: str) -> go.Figure:
    """Training images per class before and after balancing (expected per epoch for the best trial's strategy)."""
    fig = go.Figure([go.Bar(x=list(classes), y=list(before), name="training split"),
                     go.Bar(x=list(classes), y=list(after), name=f"per epoch after balancing ({strategy})")])
    fig.update_layout(barmode="group")
    return _layout(fig, f"Class counts before and after balancing ({strategy})", "class", "training images")



def pareto_front(c: Collected, cost: str = LATENCY_MS) -> Optional[go.Figure]:
    """The sweep's metric against one cost (default latency at batch 1): finished trials, their front as a line."""
    objectives = sweep_objectives(c.sweep, c.metric, c.mode)
    column = f"best_{c.metric}"
    if cost not in c.trials or column not in c.trials:
        return None
    t = c.trials.dropna(subset=[column, cost])
    if t.empty:
        return None
    front = finished_front(c.trials, [objectives[0], Objective(cost, "min")]).sort_values(cost)
    on_all = set(finished_front(c.trials, objectives)["trial_id"])
    fig = go.Figure()
    for status, group in t.groupby("status", sort=False):
        fig.add_trace(go.Scatter(x=group[cost], y=group[column], mode="markers", text=group["trial_id"],
                                 name=f"trial ({status.replace('_', ' ')})",
                                 marker=dict(color=STATUS_COLORS.get(status), size=8,
                                             symbol=["star" if i in on_all else "circle" for i in group["trial_id"]])))
    fig.add_trace(go.Scatter(x=front[cost], y=front[column], mode="lines", line_shape="hv", name="Pareto front",
                             line=dict(color="black", width=2)))
    return _layout(fig, f"Pareto front: {metric_label(c.metric)} against {COST_LABELS[cost]} (stars: Pareto-optimal "
                   "over all objectives)", COST_LABELS[cost], f"{metric_label(c.metric)} at the trial's best epoch")

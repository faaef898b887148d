"""The study's tables from collected experiments: leaderboard, comparison across experiments, cost.

Each function returns a DataFrame of raw numbers (CSV keeps them); `write_table` also renders
Markdown and LaTeX with the study's formatting (accuracies as percentages, losses to two decimals).
Validation and train figures are those of each trial's *best epoch* by the sweep metric.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import pandas as pd

from core.names import (
    COMPLETED,
    EARLY_STOPPED,
    LATENCY_BATCH_MS,
    LATENCY_MS,
    PARAMS_M,
    SERVING_BATCH,
    TRAIN_ACC,
    TRAIN_LOSS,
    VAL_ACC,
    VAL_F1,
    VAL_LOSS,
)
from results.collect import Collected, rank_trials
from results.pareto import finished_front, sweep_objectives

LEADERBOARD_COLUMNS: dict[str, str] = {
    "cfg_epochs": "Epochs",
    "cfg_batch_size": "Batch Size",
    "cfg_lr": "Learning Rate",
    "cfg_dropout": "Dropout Rate",
    "cfg_weight_decay": "Weight Decay",
    "cfg_optimizer": "Optimizer",
    f"best_{TRAIN_ACC}": "Train Accuracy",
    f"best_{TRAIN_LOSS}": "Train Loss",
    f"best_{VAL_ACC}": "Validation Accuracy",
    f"best_{VAL_LOSS}": "Validation Loss",
    f"best_{VAL_F1}": "Validation Macro-F1",
}
"""The study's columns (trials-table column -> header), then macro-F1."""

OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSProp"}


def _pct(v: Any) -> str:
    return f"{100 * v:.2f}%"


def _fixed(digits: int) -> Callable[[Any], str]:
    return lambda v: f"{v:.{digits}f}"


FORMATS: dict[str, Callable[[Any], str]] = {
    "Learning Rate": lambda v: f"{v:.3g}",
    "Dropout Rate": lambda v: f"{v:.3g}",
    "Weight Decay": lambda v: f"{v:.3g}",
    "Optimizer": lambda v: OPTIMIZER_NAMES.get(str(v), str(v)),
    "Train Loss": _fixed(2), "Validation Loss": _fixed(2), "Best Validation Loss": _fixed(2),
    "GPU-hours": _fixed(3), "GPU-hours Without Early Stopping": _fixed(3), "Wall Time (h)": _fixed(2),
    "Share Saved": _pct,
}
"""How Markdown / LaTeX show a column; accuracy, F1 and balanced-accuracy headers are matched by name below."""


def leaderboard(collected: Collected, top: int = 5) -> pd.DataFrame:
    """The top configurations by the sweep metric, in the study's format, at each trial's best epoch.

    Adds Trial, Status and Best Epoch, and Test Accuracy / Test Macro-F1 when results/evaluation.json has them.
    """
    ranked = rank_trials(collected.trials, collected.metric, collected.mode).head(top)
    table = pd.DataFrame({"Trial": ranked["trial_id"].to_numpy(), "Status": ranked["status_label"].to_numpy()})
    for source, header in LEADERBOARD_COLUMNS.items():
        table[header] = ranked[source].to_numpy() if source in ranked else None
        if header == "Epochs":
            table["Best Epoch"] = ranked["best_epoch"].to_numpy()
    tests = test_metrics(collected)
    if tests:
        table["Test Accuracy"] = [tests.get(t, {}).get("acc") for t in table["Trial"]]
        table["Test Macro-F1"] = [tests.get(t, {}).get("f1") for t in table["Trial"]]
    table.index = pd.RangeIndex(1, len(table) + 1, name="Rank")
    return table


def comparison(experiments: Sequence[Collected]) -> pd.DataFrame:
    """One row per experiment: its setting (of the best trial), best validation figures, test figures, cost."""
    rows = []
    for c in experiments:
        best = c.best_trial()
        tests = test_metrics(c).get(best["trial_id"], {}) if best is not None else {}
        pick = (lambda col, best=best: best[col] if best is not None and col in best else None)
        rows.append({
            "Experiment": c.name, "Backbone": pick("cfg_backbone"), "EdgeNet": pick("cfg_edgenet"),
            "Balancing": pick("cfg_balance"), "Best Trial": pick("trial_id"),
            "Best Validation Accuracy": pick(f"best_{VAL_ACC}"), "Best Validation Macro-F1": pick(f"best_{VAL_F1}"),
            "Best Validation Loss": pick(f"best_{VAL_LOSS}"),
            "Test Accuracy": tests.get("acc"), "Test Macro-F1": tests.get("f1"),
            "Trials": len(c.trials), "Early Stopped": int((c.trials.get("status") == EARLY_STOPPED).sum()),
            "GPU-hours": float(c.trials["gpu_hours"].sum()) if "gpu_hours" in c.trials else 0.0,
        })
    return pd.DataFrame(rows)


def cost(experiments: Sequence[Collected]) -> pd.DataFrame:
    """Epochs trained against the epochs the same trials would have run without early stopping.

    Counts trials that ended by completing or by ASHA (diverged, failed and running ones are listed apart).
    """
    rows = []
    for c in experiments:
        t = c.trials
        ended = t[t["status"].isin([COMPLETED, EARLY_STOPPED])] if len(t) else t
        trained = int(ended["epochs_run"].sum()) if len(ended) else 0
        planned = int(ended["epochs_planned"].sum()) if len(ended) else 0
        per_epoch = ended["gpu_hours"] / ended["epochs_run"].astype(float).where(ended["epochs_run"] > 0)
        rows.append({
            "Experiment": c.name, "Trials Counted": len(ended), "Trials Excluded": len(t) - len(ended),
            "Early Stopped": int((ended["status"] == EARLY_STOPPED).sum()) if len(ended) else 0,
            "Epochs Trained": trained, "Epochs Without Early Stopping": planned,
            "Epochs Saved": planned - trained, "Share Saved": (planned - trained) / planned if planned else math.nan,
            "GPU-hours": float(ended["gpu_hours"].sum()) if len(ended) else 0.0,
            "GPU-hours Without Early Stopping": float((per_epoch * ended["epochs_planned"].astype(float)).sum())
            if len(ended) else 0.0,
        })
    return pd.DataFrame(rows)


def test_metrics(collected: Collected) -> dict[str, dict]:
    """trial_id -> test metrics (acc, loss, precision, recall, f1, balanced_acc) from results/evaluation.json."""
    evaluation = collected.evaluation or {}
    return {str(e["trial_id"]): dict(e.get("metrics") or {}) for e in evaluation.get("trials", [])}


# ---------------------------------------------------------------- rendering


def format_cell(header: str, value: Any) -> str:
    """The study's rendering of one value (empty for a missing one)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if header in FORMATS:
        return FORMATS[header](value)
    if isinstance(value, float) and _is_rate(header):
        return _pct(value) if "Accuracy" in header else f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _is_rate(header: str) -> bool:
    return any(word in header for word in ("Accuracy", "F1", "Precision", "Recall"))


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with every cell rendered as text (index kept as the first column when it is named)."""
    frame = table.reset_index() if table.index.name else table
    return pd.DataFrame({h: [format_cell(h, v) for v in frame[h]] for h in frame.columns})


def numeric_columns(table: pd.DataFrame) -> list[bool]:
    """Per column of `formatted(table)`: whether it holds numbers (right-aligned when rendered)."""
    frame = table.reset_index() if table.index.name else table
    return [pd.api.types.is_numeric_dtype(frame[h]) and not pd.api.types.is_bool_dtype(frame[h]) for h in frame]


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; numbers right-aligned."""
    text, numeric = formatted(table), numeric_columns(table)
    escape = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(escape(h) for h in text.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(escape(v) for v in row) + " |" for row in text.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, caption: Optional[str] = None) -> str:
    """A booktabs LaTeX tabular (text escaped: %, _, &)."""
    text = formatted(table)
    align = "".join("r" if n else "l" for n in numeric_columns(table))
    return text.to_latex(index=False, escape=True, column_format=align, caption=caption)


def write_table(table: pd.DataFrame, out_dir: str | Path, stem: str, caption: Optional[str] = None) -> list[Path]:
    """Write STEM.md, STEM.csv (raw numbers) and STEM.tex into out_dir; returns the paths.

    A `caption` follows the Markdown table as a paragraph and is the LaTeX table's caption.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.md", out / f"{stem}.csv", out / f"{stem}.tex"]
    paths[0].write_text(to_markdown(table) + (f"\n{caption}\n" if caption else ""), encoding="utf-8")
    table.to_csv(paths[1], index=bool(table.index.name))
    paths[2].write_text(to_latex(table, caption), encoding="utf-8")
    return paths


PARETO_COLUMNS: dict[str, str] = {
    LATENCY_MS: "Latency (ms, batch 1)", LATENCY_BATCH_MS: f"Latency (ms/image, batch {SERVING_BATCH})",
    PARAMS_M: "Parameters (M)",
}


def pareto(collected: Collected) -> pd.DataFrame:
    """The Pareto-optimal finished trials over the sweep's metric and its `search.objectives`, best metric first."""
    objectives = sweep_objectives(collected.sweep, collected.metric, collected.mode)
    front = finished_front(collected.trials, objectives)
    table = pd.DataFrame({"Trial": front["trial_id"].to_numpy()})
    for key in collected.params:
        table[key] = front[f"param_{key}"].to_numpy()
    table[LEADERBOARD_COLUMNS.get(f"best_{collected.metric}", collected.metric)] = front[f"best_{collected.metric}"].to_numpy()
    for source, header in PARETO_COLUMNS.items():
        if source in front:
            table[header] = front[source].to_numpy()
    table.index = pd.RangeIndex(1, len(table) + 1, name="Rank")
    return table


def has_objectives(collected: Collected) -> bool:
    """Whether the sweep searched costs beside its metric (then its report has a Pareto table and plot)."""
    return bool((collected.sweep.get("search") or {}).get("objectives"))


def all_tables(experiments: Sequence[Collected], top: int = 5) -> dict[str, pd.DataFrame]:
    """Every table of a report: one leaderboard (and Pareto front) per experiment, then comparison and cost."""
    tables = {f"leaderboard_{c.name}": leaderboard(c, top) for c in experiments}
    tables.update({f"pareto_{c.name}": pareto(c) for c in experiments if has_objectives(c)})
    tables["comparison"] = comparison(experiments)
    tables["cost"] = cost(experiments)
    return tables


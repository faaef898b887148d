"""Accuracy and speed together: the Pareto-optimal trials of a sweep, and picking one trial by a rule.

Pure pandas: a trial is on the front when no other trial is at least as good on every objective and
strictly better on one. A pick rule such as `fastest-within 0.01` names one trial: among the trials whose
primary metric is within 0.01 (absolute) of the best one, the fastest.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import pandas as pd

from core.errors import UserError
from core.names import COMPLETED, LATENCY_MS, MODE_OF, PARAMS_M

PICK_RULES = ("best", "fastest-within", "smallest-within")


class PickError(UserError):
    """A pick rule that names no trial, or that cannot be read."""


@dataclass(frozen=True)
class Objective:
    """One column of the trials table and whether larger (max) or smaller (min) is better."""

    column: str
    mode: Literal["max", "min"]


@dataclass(frozen=True)
class PickRule:
    """`best`, `fastest-within TOL` (lowest latency) or `smallest-within TOL` (fewest parameters)."""

    kind: str
    tolerance: float = 0.0

    @property
    def speed_column(self) -> str | None:
        return {"fastest-within": LATENCY_MS, "smallest-within": PARAMS_M}.get(self.kind)


def parse_pick(text: str) -> PickRule:
    """`"fastest-within 0.01"` -> PickRule; one-line error naming the rule otherwise."""
    parts = text.replace("=", " ").split()
    if not parts or parts[0] not in PICK_RULES:
        raise PickError(f"--pick is {text!r}, but must be one of: best, fastest-within TOL, smallest-within TOL")
    if parts[0] == "best":
        if len(parts) != 1:
            raise PickError(f"--pick is {text!r}, but 'best' takes no tolerance")
        return PickRule("best")
    if len(parts) != 2:
        raise PickError(f"--pick is {text!r}, but {parts[0]} needs one tolerance, e.g. '{parts[0]} 0.01'")
    try:
        tolerance = float(parts[1])
    except ValueError:
        raise PickError(f"--pick is {text!r}, but the tolerance {parts[1]!r} is not a number") from None
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise PickError(f"--pick is {text!r}, but the tolerance must be a finite number >= 0")
    return PickRule(parts[0], tolerance)


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """True when `a` is at least as good as `b` on every objective and strictly better on one."""
    better = False
    for x, y, mode in zip(a, b, modes):
        if mode == "min":
            x, y = -x, -y
        if x < y:
            return False
        better = better or x > y
    return better


def pareto_front(trials: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """The trials no other trial dominates (rows missing an objective are left out), best primary first."""
    columns = [o.column for o in objectives]
    missing = [c for c in columns if c not in trials]
    if missing:
        return trials.iloc[0:0]
    scored = trials.dropna(subset=columns)
    values = scored[columns].to_numpy(dtype=float).tolist()
    modes = [o.mode for o in objectives]
    keep = [not any(dominates(other, mine, modes) for other in values) for mine in values]
    front = scored[keep]
    return front.sort_values(columns[0], ascending=objectives[0].mode == "min", kind="stable")


def pick_trial(trials: pd.DataFrame, rule: PickRule, metric: Objective) -> pd.Series:
    """The one trial `rule` names; ties go to the better metric, then the earlier trial."""
    scored = trials.dropna(subset=[metric.column]) if metric.column in trials else trials.iloc[0:0]
    if scored.empty:
        raise PickError(f"--pick {rule.kind}: no trial has a value of {metric.column}")
    best = scored[metric.column].min() if metric.mode == "min" else scored[metric.column].max()
    if rule.speed_column is None:
        candidates, keys, ascending = scored, [metric.column], [metric.mode == "min"]
    else:
        if rule.speed_column not in scored or scored[rule.speed_column].isna().all():
            raise PickError(f"--pick {rule.kind}: no trial measured {rule.speed_column} "
                            f"(add it to search.objectives)")
        gap = (scored[metric.column] - best).abs()
        candidates = scored[(gap <= rule.tolerance + 1e-12) & scored[rule.speed_column].notna()]
        keys, ascending = [rule.speed_column, metric.column], [True, metric.mode == "min"]
        if candidates.empty:
            raise PickError(f"--pick {rule.kind} {rule.tolerance}: no trial within {rule.tolerance} of the best "
                            f"{metric.column} ({best:.4f}) measured {rule.speed_column}")
    if "trial_number" in candidates:
        keys, ascending = [*keys, "trial_number"], [*ascending, True]
    return candidates.sort_values(keys, ascending=ascending, kind="stable").iloc[0]


def sweep_objectives(sweep: Mapping[str, Any], metric: str, mode: str) -> list[Objective]:
    """The objectives a sweep searched (its config's `search.objectives`), its metric first as `best_<metric>`."""
    costs = (sweep.get("search") or {}).get("objectives") or ()
    return [Objective(f"best_{metric}", mode), *(Objective(name, MODE_OF[name]) for name in costs)]


def finished_front(trials: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """The front of the trials that ran to their end (a trial ASHA stopped has a low-rung value, not its own)."""
    done = trials[trials["status"] == COMPLETED] if "status" in trials else trials.iloc[0:0]
    return pareto_front(done, objectives)

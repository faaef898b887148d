"""Confirmed winners: the sweep's top configurations re-run with fresh seeds, ranked by the mean over seeds.

`python -m search.confirm EXP` runs the confirmation into EXP/confirm/ (an experiment folder of its own plus
confirm.json, its plan); this module reads it back, with no Ray, and builds two tables:

    confirmed        per configuration: seeds, mean and sd of the sweep metric (each run's value at its best
                     epoch, as the sweep's leaderboard), the value the sweep selected it on, and the ranks it
                     is within noise of
    confirmed_pairs  every pair: the difference of the means and its 95% Welch interval

The noise rule: two configurations are within noise when the 95% Welch t interval of the difference of
their means includes 0 (unequal variances, Welch-Satterthwaite degrees of freedom). With 3 seeds each that
is roughly |difference| <= 2.8 x its standard error: a deliberately conservative test, since a few seeds
are all a confirmation buys. Fewer than 2 seeds of either side: no spread to judge by (unknown).
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from core.layout import CONFIRM_DIR, CONFIRM_PLAN, CONFIRMED_PAIRS, CONFIRMED_TABLE
from core.names import COMPLETED, DIVERGED
from core.storage import ExperimentError, open_experiment
from core.uri import join
from results.collect import Collected, collect
from results.tables import LEADERBOARD_COLUMNS

COUNTED = (COMPLETED, DIVERGED)
"""Confirmation runs that count: a seed that diverged is part of how the configuration behaves; one that
failed (an error, a lost node) or has not finished says nothing about it."""

CAPTION = ("Confirmed winners: the sweep's top {k} configurations re-run with {n} fresh seeds each, ranked by the "
           "mean of {metric} (each run's value at its best epoch); sd is the spread over seeds. \"Within Noise Of\" "
           "lists the configurations whose difference from this one has a 95% Welch t interval that includes 0; "
           "\"Sweep\" is the single value the sweep selected it on (optimistic: it was picked for being high).")


def t_quantile(df: float, level: float = 0.95) -> float:
    """The two-sided `level` quantile of Student's t at `df` degrees of freedom (fractional: Welch), by bisection."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    low, high = 0.0, 1000.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_two_sided_tail(middle, df) > 1 - level else (low, middle)
    return (low + high) / 2


def _t_two_sided_tail(t: float, df: float) -> float:
    """P(|T| > t) for Student's t: the regularized incomplete beta I_x(df/2, 1/2) at x = df / (df + t^2)."""
    x = df / (df + t * t)
    a, b = df / 2, 0.5
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes 6.4)."""
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1) < 1e-12:
            break
    return result


def difference_interval(a: Sequence[float], b: Sequence[float]) -> Optional[tuple[float, float, float]]:
    """(mean(a) - mean(b), low, high): the 95% Welch t interval of the difference; None under 2 values a side."""
    if len(a) < 2 or len(b) < 2:
        return None
    diff = statistics.mean(a) - statistics.mean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:  # no spread at all (noise off): only an exact tie is within it
        return diff, diff, diff
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile(df) * math.sqrt(va + vb)
    return diff, diff - half, diff + half


def within_noise(a: Sequence[float], b: Sequence[float]) -> Optional[bool]:
    """Whether two configurations' seeds cannot tell them apart (the interval includes 0); None when unknown."""
    interval = difference_interval(a, b)
    return None if interval is None else interval[1] <= 0 <= interval[2]


@dataclass(frozen=True)
class Candidate:
    """One confirmed configuration: the sweep trial it comes from, and its values over the fresh seeds."""

    trial_id: str
    sweep_rank: int
    sweep_value: float
    values: tuple[float, ...]
    fields: Mapping[str, Any]
    """The study's columns of the sweep trial (header -> value: Epochs, Batch Size, ...)."""


def rank_candidates(candidates: Sequence[Candidate], mode: str) -> list[Candidate]:
    """Best mean first (`mode` max or min); configurations with no counted seed last, in sweep order."""
    sign = -1.0 if mode == "max" else 1.0
    return sorted(candidates, key=lambda c: (not c.values, sign * statistics.mean(c.values) if c.values else 0.0,
                                             c.sweep_rank))


def confirmed_table(candidates: Sequence[Candidate], metric: str, mode: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The confirmed leaderboard (ranked by the mean over seeds) and the table of every pair's difference."""
    ranked = rank_candidates(candidates, mode)
    header = LEADERBOARD_COLUMNS.get(f"best_{metric}", metric)
    rows, pairs = [], []
    for i, c in enumerate(ranked):
        ties = {j + 1: within_noise(c.values, other.values) for j, other in enumerate(ranked) if j != i}
        noted = [str(rank) for rank, tie in ties.items() if tie] + (["?"] if None in ties.values() else [])
        rows.append({"Trial": c.trial_id, "Sweep Rank": c.sweep_rank, **c.fields, "Seeds": len(c.values),
                     f"{header} Mean": statistics.mean(c.values) if c.values else math.nan,
                     f"{header} SD": statistics.stdev(c.values) if len(c.values) > 1 else math.nan,
                     f"Sweep {header}": c.sweep_value,
                     "Within Noise Of": ", ".join(noted) or "-"})
        for j in range(i + 1, len(ranked)):
            interval = difference_interval(c.values, ranked[j].values)
            verdict = "unknown" if interval is None else ("yes" if interval[1] <= 0 <= interval[2] else "no")
            pairs.append({"Pair": f"{i + 1} vs {j + 1}", "Trials": f"{c.trial_id} vs {ranked[j].trial_id}",
                          "Difference": interval[0] if interval else math.nan,
                          "95% Low": interval[1] if interval else math.nan,
                          "95% High": interval[2] if interval else math.nan, "Within Noise": verdict})
    table = pd.DataFrame(rows)
    table.index = pd.RangeIndex(1, len(table) + 1, name="Rank")
    return table, pd.DataFrame(pairs, columns=["Pair", "Trials", "Difference", "95% Low", "95% High", "Within Noise"])


# ---------------------------------------------------------------- reading a confirmation


@dataclass(frozen=True)
class Confirmation:
    """A confirmation read from EXP/confirm/: its plan, its runs, and the two tables."""

    plan: Mapping[str, Any]
    runs: Collected
    table: pd.DataFrame
    pairs: pd.DataFrame
    sources: Mapping[str, tuple[str, ...]]
    """Sweep trial id -> the trial ids of its configuration's counted runs (in runs.trials)."""

    @property
    def caption(self) -> str:
        header = LEADERBOARD_COLUMNS.get(f"best_{self.runs.metric}", self.runs.metric)
        return CAPTION.format(k=len(self.plan.get("configs", [])), n=len(self.plan.get("seeds", [])), metric=header)

    @property
    def finished(self) -> bool:
        return self.runs.finished

    def winner(self) -> Optional[str]:
        """The sweep trial id of the configuration ranked first by the mean, or None when no seed counted yet."""
        if not len(self.table) or not self.table.iloc[0]["Seeds"]:
            return None
        return str(self.table.iloc[0]["Trial"])


def read_plan(location: str) -> Optional[dict]:
    """EXP/confirm/confirm.json, or None when the experiment has no confirmation."""
    store = open_experiment(location, require=None)
    plan = store.read_json(CONFIRM_DIR, CONFIRM_PLAN, default=None)
    if plan is not None and not (isinstance(plan, dict) and isinstance(plan.get("configs"), list)):
        raise ExperimentError(f"{store.shown}/{CONFIRM_DIR}/{CONFIRM_PLAN}: not a confirmation plan")
    return plan


def load_confirmation(sweep: Collected) -> Optional[Confirmation]:
    """The sweep's confirmation (EXP/confirm/), or None when it has none or none of its runs started yet."""
    plan = read_plan(sweep.location)
    if plan is None or not open_experiment(sweep.location, require=None).exists(CONFIRM_DIR, "sweep.json"):
        return None
    runs = collect(join(sweep.location, CONFIRM_DIR))
    sources = runs_by_source(sweep, runs, plan)
    column = f"best_{runs.metric}"
    values = {owner: [float(row[column]) for row in rows if _is_number(row.get(column))]
              for owner, rows in sources.items()}
    by_id = sweep.trials.set_index("trial_id") if len(sweep.trials) else None
    candidates = [Candidate(trial_id=str(entry["trial_id"]), sweep_rank=int(entry["rank"]),
                            sweep_value=float(entry["value"]), values=tuple(values.get(str(entry["trial_id"]), ())),
                            fields=_study_fields(by_id, str(entry["trial_id"])))
                  for entry in plan["configs"]]
    table, pairs = confirmed_table(candidates, runs.metric, runs.mode)
    return Confirmation(plan=plan, runs=runs, table=table, pairs=pairs,
                        sources={owner: tuple(str(row["trial_id"]) for row in rows) for owner, rows in sources.items()})


def runs_by_source(sweep: Collected, runs: Collected, plan: Mapping[str, Any]) -> dict[str, list[dict]]:
    """Sweep trial id -> the counted confirmation runs of its configuration (rows of runs.trials).

    A run belongs to the sweep trial whose trial_config.yaml it ran, seed aside: what ran is read back from
    both folders, so a run of any other configuration counts for none.
    """
    owners = {config_key(sweep.trial_config(str(e["trial_id"]))): str(e["trial_id"]) for e in plan["configs"]}
    out: dict[str, list[dict]] = {}
    for row in runs.trials.to_dict("records"):
        config = runs.trial_configs.get(str(row["trial_id"]))
        if row["status"] not in COUNTED or config is None:
            continue
        owner = owners.get(config_key(config))
        if owner is not None:
            out.setdefault(owner, []).append(row)
    return out


def _is_number(value: Any) -> bool:
    return value is not None and not math.isnan(float(value))


def without_seed(config: Mapping[str, Any]) -> dict:
    """A training config with train.seed taken out (what two seeds of one configuration share)."""
    return {**config, "train": {k: v for k, v in (config.get("train") or {}).items() if k != "seed"}}


def config_key(config: Mapping[str, Any]) -> str:
    """One string per configuration, the same for all its seeds."""
    return json.dumps(without_seed(config), sort_keys=True, default=str)


def _study_fields(by_id: Optional[pd.DataFrame], trial_id: str) -> dict:
    """The study's hyperparameter columns of the sweep trial (its cfg_* values)."""
    wanted = {source: header for source, header in LEADERBOARD_COLUMNS.items() if source.startswith("cfg_")}
    if by_id is None or trial_id not in by_id.index:
        return dict.fromkeys(wanted.values())
    row = by_id.loc[trial_id]
    return {header: row.get(source) for source, header in wanted.items()}


TABLES = (CONFIRMED_TABLE, CONFIRMED_PAIRS)
"""The stems of the two tables in EXP/results/ and in a report's tables/."""

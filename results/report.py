"""One self-contained HTML report (plotly.js embedded once, opens with no network) plus the tables.

    python -m results.report experiments/exp_a [experiments/exp_b ...] --out reports/ablation

writes DIR/report.html, DIR/tables/*.{md,csv,tex} and DIR/<experiment>/{trials,epochs}.parquet.
"""
from __future__ import annotations

import argparse
import dataclasses
import html
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from core.cli import command
from core.layout import CONFIRMED_PAIRS, CONFIRMED_TABLE
from core.schema import ConfigError
from results import figures
from results.balance import class_counts
from results.collect import Collected, collect, save_parquet
from results.confirm import load_confirmation
from results.data_page import data_page_html, open_report_cache
from results.gallery import confirmed_gallery_html, gallery_html
from results.study import param_importances
from results.tables import all_tables, formatted, numeric_columns, write_table

log = logging.getLogger(__name__)

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
h1{margin-bottom:0}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
.meta{color:#666}.figure{margin:1.5em 0;border:1px solid #eee;padding:.5em}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}th,td{border:1px solid #ddd;padding:.25em .6em}
th{background:#f5f5f5}td.num{text-align:right}.note{color:#a60}nav a{margin-right:1em}
.sample-grid{display:flex;flex-wrap:wrap;gap:1em}.sample-class,.confused-pair{font-size:.85em}.thumb{margin:2px;border:1px solid #ddd}
"""


def write_report(experiments: list[str], out_dir: str, top: int = 5) -> Path:
    """Collect the experiments, write the tables, Parquet files and report.html into out_dir; returns report.html."""
    collected = _unique_names([collect(e) for e in experiments])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for c in collected:
        save_parquet(c, str(out / c.name))
    tables = all_tables(collected, top)
    confirmations = {c.name: load_confirmation(c) for c in collected}
    confirmations = {name: found for name, found in confirmations.items() if found is not None}
    for stem, table in tables.items():
        write_table(table, out / "tables", stem)
    for name, found in confirmations.items():
        write_table(found.table, out / "tables", f"{CONFIRMED_TABLE}_{name}", caption=found.caption)
        write_table(found.pairs, out / "tables", f"{CONFIRMED_PAIRS}_{name}")
    page = render_html(collected, tables, confirmations)
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    log.info("report of %d experiment(s): %s", len(collected), path)
    return path


def render_html(collected: Sequence[Collected], tables: dict, confirmations: Optional[dict] = None) -> str:
    """The whole page: plotly.js inline once in <head>, then one section per experiment.

    `confirmations`: experiment name -> its results.confirm.Confirmation, shown under its leaderboard.
    """
    counter = iter(range(10_000))
    sections = [_section("Comparison of experiments", [_table_html(tables["comparison"]),
                                                       "<h3>Cost of the search</h3>", _table_html(tables["cost"])])]
    for c in collected:
        parts = _experiment_parts(c, tables[f"leaderboard_{c.name}"], counter, tables.get(f"pareto_{c.name}"),
                                  (confirmations or {}).get(c.name))
        sections.append(_section(f"Experiment {c.name}", parts))
    nav = " ".join(f'<a href="#{_anchor(c.name)}">{html.escape(c.name)}</a>' for c in collected)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Sweep report</title>"
            f"<style>{CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
            f"<h1>Sweep report</h1><p class='meta'>{len(collected)} experiment(s), written {stamp}</p>"
            f"<nav>{nav}</nav>{''.join(sections)}</body></html>")


def _experiment_parts(c: Collected, leaderboard, counter, front=None, confirmation=None) -> list[str]:
    parts = [_meta_html(c), f"<h3>Leaderboard (top {len(leaderboard)} by {html.escape(c.metric)}; values at each "
             "trial's best epoch)</h3>", _table_html(leaderboard)]
    if confirmation is not None:
        parts += _confirmation_html(confirmation)
    if front is not None:
        parts += ["<h3>Pareto-optimal trials (finished trials no other beats on every objective)</h3>",
                  _table_html(front)]
    importances, reason = param_importances(c)
    log_params = _log_params(c)
    figs = [figures.pareto_front(c) if front is not None else None, figures.history_by_trial(c),
            figures.history_by_time(c), figures.best_by_epochs_spent(c), figures.parallel_coordinates(c, log_params),
            figures.importance(importances, reason), figures.learning_curves(c),
            figures.best_precision_recall_f1(c), figures.best_accuracy_loss(c)]
    entry = _best_evaluation(c)
    if entry is None:
        parts.append("<p class='note'>No test evaluation yet: run <code>python -m deploy.evaluate "
                     f"{html.escape(c.location)}</code> to add the test confusion matrix and per-class F1.</p>")
    else:
        figs += [figures.confusion_matrix(entry), figures.per_class_f1(entry)]
        parts.append(_per_class_html(entry))
    figs += [_balance_figure(c), figures.reliability_diagram(c.calibration)]
    if c.calibration:
        parts.append(_calibration_html(c.calibration))
    parts += [_figure_html(f, f"fig-{next(counter)}") for f in figs if f is not None]
    cache_path = str(c.meta.get("cache_path") or "")
    data = open_report_cache(cache_path) if cache_path else None
    gallery = gallery_html(c, data) if data is not None else None
    confirmed = confirmed_gallery_html(confirmation, data) if data is not None and confirmation is not None else None
    page = data_page_html(cache_path, _balance_counts(c)) if data is not None else None
    return parts + [html_part for html_part in (gallery, confirmed, page) if html_part]


def _balance_strategy(c: Collected) -> str:
    best = c.best_trial()
    return str(best["cfg_balance"]) if best is not None and best.get("cfg_balance") else "none"


def _balance_counts(c: Collected):
    return class_counts(c, _balance_strategy(c))


def _balance_figure(c: Collected) -> Optional[go.Figure]:
    counts = _balance_counts(c)
    if counts is None:
        return None
    return figures.class_counts(counts.classes, counts.before, counts.after, _balance_strategy(c))


def _best_evaluation(c: Collected) -> Optional[dict]:
    best = c.best_trial()
    entries = (c.evaluation or {}).get("trials", [])
    match = [e for e in entries if best is not None and e.get("trial_id") == best["trial_id"]]
    return (match or entries or [None])[0]


def _log_params(c: Collected) -> list[str]:
    space = (c.sweep.get("search") or {}).get("space") or {}
    return [k for k, spec in space.items() if isinstance(spec, dict) and spec.get("log")]


def _figure_html(fig: go.Figure, div_id: str) -> str:
    body = pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=PLOTLY_CONFIG,
                       default_height=f"{fig.layout.height or 420}px")
    return f"<div class='figure'>{body}</div>"


def _table_html(table) -> str:
    text, numeric = formatted(table), numeric_columns(table)
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in text.columns)
    rows = "".join("<tr>" + "".join(f"<td{' class=num' if n else ''}>{html.escape(str(v))}</td>"
                                    for v, n in zip(row, numeric)) + "</tr>" for row in text.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _confirmation_html(confirmation) -> list[str]:
    state = "" if confirmation.finished else " (unfinished: <code>python -m search.confirm</code> again continues it)"
    return [f"<h3>Confirmed winners: the mean over {len(confirmation.plan.get('seeds', []))} fresh seeds{state}</h3>",
            _table_html(confirmation.table), f"<p class='meta'>{html.escape(confirmation.caption)}</p>",
            "<h4>Pairs: difference of the means, 95% Welch interval</h4>", _table_html(confirmation.pairs)]


def _per_class_html(entry: dict) -> str:
    metrics = entry.get("metrics") or {}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, (int, float)))
    return (f"<h3>Test set: trial {html.escape(str(entry.get('trial_id')))}</h3>"
            f"<p>{html.escape(summary)} (checkpoint {html.escape(str(entry.get('checkpoint')))}, "
            f"epoch {entry.get('epoch')})</p>")


def _calibration_html(cal: dict) -> str:
    return (f"<h3>Calibration of the exported package: trial {html.escape(str(cal.get('trial_id')))}</h3>"
            f"<p>temperature {cal.get('temperature', 1.0):.3f} fitted on {cal.get('images')} validation images; "
            f"expected calibration error ({cal.get('bins')} bins) {cal.get('ece_before', float('nan')):.4f} before, "
            f"{cal.get('ece_after', float('nan')):.4f} after</p>")


def _meta_html(c: Collected) -> str:
    m = c.meta
    state = "finished " + str(m.get("finished_at")) if c.finished else "running or interrupted"
    fields = [("location", c.location), ("metric", f"{c.metric} ({c.mode})"), ("scheduler", m.get("scheduler")),
              ("sampler", m.get("sampler")), ("started", m.get("started_at")), ("state", state),
              ("trials", len(c.trials)), ("resources per trial", m.get("resources"))]
    items = "".join(f"<li><b>{k}</b>: {html.escape(str(v))}</li>" for k, v in fields)
    return f"<ul class='meta'>{items}</ul>"


def _section(title: str, parts: list[str]) -> str:
    name = title.removeprefix("Experiment ")
    return f"<section id='{_anchor(name)}'><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def _anchor(name: str) -> str:
    return "x-" + "".join(ch if ch.isalnum() else "-" for ch in name)


def _unique_names(collected: list[Collected]) -> list[Collected]:
    """Two experiments of the same name (from different storages) get a numeric suffix in the report."""
    seen: dict[str, int] = {}
    out = []
    for c in collected:
        n = seen.get(c.name, 0)
        seen[c.name] = n + 1
        out.append(c if n == 0 else dataclasses.replace(c, name=f"{c.name}-{n + 1}"))
    return out


@command
def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m results.report",
        description="Write a self-contained HTML report (opens offline) and the study's tables "
                    "(Markdown, CSV, LaTeX) for one or more experiments.")
    parser.add_argument("experiments", nargs="+", metavar="EXPERIMENT",
                        help="experiment directory (<storage>/<name>, local path or s3:// URI)")
    parser.add_argument("--out", required=True, help="output folder for report.html, tables/ and Parquet files")
    parser.add_argument("--top", type=int, default=5, help="rows of each leaderboard (default 5)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.top < 1:
        raise ConfigError("--top", args.top, "must be >= 1")
    print(write_report(args.experiments, args.out, top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The report: tables and Parquet written, and report.html rendering every figure offline in Chromium."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from results.report import write_report
from tests.conftest import run_cli
from tests.results.browser import open_report
from tests.results.synthetic import (
    CONFUSIONS,
    default_trials,
    write_calibration,
    write_evaluation,
    write_experiment,
    write_predictions,
)


def test_write_report_files_and_tables(exp_a, exp_b, tmp_path):
    out = tmp_path / "report"
    path = write_report([str(exp_a), str(exp_b)], str(out))
    assert path == out / "report.html"
    for stem in ("leaderboard_exp_a", "leaderboard_exp_b", "comparison", "cost"):
        assert all((out / "tables" / f"{stem}.{ext}").is_file() for ext in ("md", "csv", "tex"))
    assert len(pd.read_parquet(out / "exp_a" / "trials.parquet")) == 6
    page = path.read_text()
    assert page.count("<script type='text/javascript'>") == 1, "plotly.js must be embedded exactly once"
    assert not re.search(r"<script[^>]+src=", page), "no external scripts"
    assert "Validation Macro-F1" in page and "early-stopped at epoch 1" in page


def test_class_counts_follow_the_best_trials_balancing(tmp_path, clothing_root, small_cache):
    from results.balance import class_counts
    from results.collect import collect

    exp = write_experiment(tmp_path, "exp", default_trials(), clothing_root=str(clothing_root),
                           cache_path=small_cache.path, balance="undersample", balance_target=10)
    counts = class_counts(collect(str(exp)))
    train = small_cache.split("train").class_counts(len(small_cache.classes))
    assert counts.classes == small_cache.classes
    assert list(counts.before) == train.tolist()
    assert list(counts.after) == pytest.approx([min(n, 10) for n in train])

    quarter = write_experiment(tmp_path, "quarter", default_trials(), clothing_root=str(clothing_root),
                               cache_path=small_cache.path, train_fraction=0.25)
    assert list(class_counts(collect(str(quarter))).before) == [round(n / 4) for n in train]  # what trials saw


THUMBS_JS = """() => {
    const state = selector => {
        const imgs = Array.from(document.querySelectorAll(selector + ' img.thumb'));
        return {pages: document.querySelectorAll(selector).length, count: imgs.length,
                loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
                srcs: Array.from(new Set(imgs.map(i => i.src.slice(0, 15)))),
                tables: document.querySelectorAll(selector + ' table.confused-pairs').length};
    };
    return {data: state('.data-page'), gallery: state('.gallery')};
}"""
"""What the report's two photo pages (the data page, the gallery of confusions) hold and whether their images
decoded; the tests' page is opened offline, so a loaded image was embedded."""


@pytest.mark.integration
def test_report_renders_offline_in_chromium(tmp_path, clothing_root, small_cache, artifacts):
    """Every kind of figure: exp_a is evaluated and points at a real prepared cache (class counts)."""
    exp_a = write_experiment(tmp_path / "s", "exp_a", default_trials(), clothing_root=str(clothing_root),
                             cache_path=small_cache.path, balance="hybrid")
    write_evaluation(exp_a)
    write_predictions(exp_a, small_cache)
    calibration = write_calibration(exp_a)
    exp_b = write_experiment(tmp_path / "s", "exp_b", default_trials()[:3], clothing_root=str(clothing_root),
                             edgenet="residual")
    path = write_report([str(exp_a), str(exp_b)], str(tmp_path / "report"))
    expected = re.findall(r'<div id="(fig-\d+)"', path.read_text())
    page = open_report(path, artifacts / "report_synthetic.png", probe=THUMBS_JS)
    assert not page.console_errors, page.console_errors
    thumbs = page.probe["data"]  # the data page (exp_a has a real cache): 4 training photos per class, decoded offline
    assert thumbs["pages"] == 1 and thumbs["count"] == 4 * len(small_cache.classes), thumbs
    assert thumbs["loaded"] == thumbs["count"] and all(src.startswith("data:image/jpeg") for src in thumbs["srcs"])
    gallery = page.probe["gallery"]  # the best trial's confusions, validation and test, every photo decoded offline
    assert gallery["pages"] == 1 and gallery["tables"] == 2, gallery
    assert gallery["count"] == 2 * sum(min(n, 6) for n in CONFUSIONS.values()), gallery
    assert gallery["loaded"] == gallery["count"] and gallery["srcs"] == ["data:image/jpeg"], gallery
    lost = [w for w in page.console_warnings if "webgl" in w.lower() and "context" in w.lower()]
    assert not lost, lost  # more WebGL figures than the browser keeps contexts for
    assert not page.blocked_requests, page.blocked_requests
    assert sorted(p["id"] for p in page.plots) == sorted(expected)
    assert len(expected) == 8 + 4 + 8  # 8 per sweep; exp_a adds the confusion matrix, per-class F1, class counts, reliability
    assert f"{calibration['ece_after']:.4f} after" in path.read_text()
    assert any(p["title"].startswith("Reliability on 300 validation images") for p in page.plots), page.plots
    for plot in page.plots:
        assert plot["traces"] >= 1 and plot["svg"] >= 1 and plot["drawn"] >= 1, plot
        assert plot["height"] > 200 and plot["width"] > 400, plot
        assert plot["title"], plot
    assert (artifacts / "report_synthetic.png").stat().st_size > 10_000


def test_cli_help_run_and_errors(exp_a, tmp_path):
    assert "--out" in run_cli("-m", "results.report", "--help").stdout
    done = run_cli("-m", "results.report", str(exp_a), "--out", str(tmp_path / "r"), "--top", "3")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "report.html").is_file()
    assert len(pd.read_csv(tmp_path / "r" / "tables" / "leaderboard_exp_a.csv")) == 3
    bad = run_cli("-m", "results.report", str(tmp_path / "missing"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "experiment directory not found" in bad.stderr
    assert "Traceback" not in bad.stderr


HOSTILE = "<img src=x onerror=window.__xss=(window.__xss||0)+1>"
"""Has no '/', so it can also be a folder name (the experiment's) and a trial id."""
HOSTILE_SCRIPT = "</script><script>window.__xss=(window.__xss||0)+1</script>"
HOSTILE_ATTR = "\"'><svg onload=window.__xss=(window.__xss||0)+1>"
PROBE_JS = """() => ({xss: window.__xss || 0, text: document.body.innerText,
    handlers: document.querySelectorAll('[onerror], [onload]').length,
    scripts: document.querySelectorAll('script').length, plots: document.querySelectorAll('.js-plotly-plot').length})"""


@pytest.mark.integration
def test_hostile_names_are_shown_as_text_never_run(tmp_path, clothing_root, artifacts):
    """Class names, trial ids, the experiment's name, checkpoint paths and sweep metadata are all data."""
    import json

    exp = write_experiment(tmp_path, f"exp {HOSTILE}", default_trials()[:4], clothing_root=str(clothing_root),
                           trial_prefix=HOSTILE)
    meta = json.loads((exp / "sweep.json").read_text())
    meta.update(scheduler=HOSTILE_SCRIPT, sampler=HOSTILE_ATTR, started_at=HOSTILE, resources={HOSTILE: HOSTILE_SCRIPT})
    (exp / "sweep.json").write_text(json.dumps(meta))
    evaluation = write_evaluation(exp, trial_id=f"{HOSTILE}_00002")
    hostile_classes = [HOSTILE, HOSTILE_SCRIPT, HOSTILE_ATTR] + evaluation["classes"][3:]
    entry = evaluation["trials"][0]
    entry.update(classes=hostile_classes, checkpoint=f"{HOSTILE_SCRIPT}/checkpoint_000001")
    for row, name in zip(entry["per_class"], hostile_classes):
        row["class"] = name
    evaluation["classes"] = hostile_classes
    (exp / "results" / "evaluation.json").write_text(json.dumps(evaluation))

    path = write_report([str(exp)], str(tmp_path / "report"))
    page = open_report(path, artifacts / "report_hostile.png", probe=PROBE_JS)
    assert page.probe["xss"] == 0 and page.probe["handlers"] == 0, page.probe["handlers"]
    assert page.probe["scripts"] == 1 + page.probe["plots"], "one plotly.js and one script per figure, no more"
    assert not page.console_errors, page.console_errors
    for text in (HOSTILE, HOSTILE_SCRIPT, HOSTILE_ATTR, f"{HOSTILE}_00002"):
        assert text in page.probe["text"], text  # shown literally, as the data says

"""What a finished sweep prints: how trials ended, the best configurations in the study's format, where it all is."""
from __future__ import annotations

from collections import Counter

from core.layout import REPORT_DIR, STATUS_FILE, STUDY_FILE
from core.names import RUNNING, TRIAL_STATUSES
from core.uri import without_query
from search.config import ExperimentConfig
from search.experiment import Experiment


def status_counts(experiment: Experiment) -> Counter:
    """How many trials ended in each status (from `trial_status.json` in the experiment's storage)."""
    from core.storage import open_experiment

    trials = open_experiment(experiment.location, require=None).read_json(STATUS_FILE, default={})
    return Counter(entry.get("status", RUNNING) for entry in trials.values())


def print_summary(cfg: ExperimentConfig, experiment: Experiment, *, report: bool) -> int:
    """Print the sweep's outcome; the command's exit code (1 when no trial reported a result)."""
    from results.collect import collect
    from results.tables import leaderboard, to_markdown

    where = without_query(experiment.location)
    counts = status_counts(experiment)
    total = sum(counts.values())
    parts = ", ".join(f"{s} {counts[s]}" for s in TRIAL_STATUSES if counts[s])
    print(f"\ntrials: {total} ({parts})")
    collected = collect(experiment.location)
    if collected.trials.empty or collected.epochs.empty:
        print(f"no trial reported a result; see the error files under {where}")
        return 1
    print(f"\nbest configurations by {cfg.search.metric} ({cfg.search.metric_mode}):\n")
    print(to_markdown(leaderboard(collected, top=5)))
    print(f"\nexperiment: {where}")
    print(f"optuna study: optuna-dashboard {experiment.path / STUDY_FILE}")
    if report:
        from results.report import write_report

        html = write_report([experiment.location], str(experiment.path / REPORT_DIR))
        uploaded = experiment.remote and experiment.try_upload(REPORT_DIR)
        print(f"report: {html}" + (f" (and {where}/{REPORT_DIR}/)" if uploaded else ""))
    return 0

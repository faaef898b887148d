"""Figures: titled axes with units, legends by status (not by trial), WebGL only for many trials."""
from __future__ import annotations

import random

import plotly.graph_objects as go

from results import figures
from results.collect import collect
from tests.results.synthetic import FakeTrial, write_calibration, write_evaluation, write_experiment


def _all_figures(c) -> list[go.Figure]:
    entry = (c.evaluation or {}).get("trials", [None])[0]
    return [figures.history_by_trial(c), figures.history_by_time(c), figures.best_by_epochs_spent(c),
            figures.learning_curves(c),
            figures.best_precision_recall_f1(c), figures.best_accuracy_loss(c), figures.importance({"lr": 1.0}),
            figures.confusion_matrix(entry), figures.per_class_f1(entry),
            figures.class_counts(["a", "b"], [3, 1], [2, 2], "hybrid"), figures.reliability_diagram(c.calibration)]


def test_every_figure_has_titles_and_a_legend(exp_a):
    write_evaluation(exp_a)
    write_calibration(exp_a)
    c = collect(str(exp_a))
    for fig in _all_figures(c):
        assert fig is not None and fig.layout.title.text
        for axis in [a for a in fig.layout if a.startswith(("xaxis", "yaxis"))]:
            assert fig.layout[axis].title.text, (fig.layout.title.text, axis)
        assert any(t.showlegend is not False for t in fig.data), fig.layout.title.text
    parcoords = figures.parallel_coordinates(c, log_params=["lr"])
    labels = [d.label for d in parcoords.data[0].dimensions]
    assert labels == ["epochs", "log10(lr)", "optimizer (categorical)", "dropout", "validation macro-F1"]
    assert list(parcoords.data[0].dimensions[2].ticktext) == ["adam", "sgd"]


def test_hundred_trials_stay_readable(tmp_path, clothing_root):
    rng = random.Random(0)
    trials = []
    for i in range(100):
        epochs = rng.randint(1, 4)
        ran = epochs if i % 3 == 0 else 1
        trials.append(FakeTrial({"epochs": epochs, "lr": 10 ** rng.uniform(-4, -1), "optimizer": rng.choice(["adam", "sgd"]),
                                 "dropout": rng.uniform(0, 0.5)},
                                [round(rng.uniform(0.1, 0.6), 3) for _ in range(ran)],
                                "completed" if ran == epochs else "early_stopped", start_s=10.0 * i))
    c = collect(str(write_experiment(tmp_path, "big", trials, clothing_root=str(clothing_root))))
    assert len(c.trials) == 100
    fig = figures.learning_curves(c)
    curves = [t for t in fig.data if t.name != "stopped by ASHA"]
    assert len(curves) == 100 and all(isinstance(t, go.Scattergl) for t in fig.data)
    assert sum(t.showlegend is not False for t in fig.data) <= 3  # completed, early stopped, stopped by ASHA
    stops = next(t for t in fig.data if t.name == "stopped by ASHA")
    assert len(stops.x) == int((c.trials["status"] == "early_stopped").sum())
    assert all(t.line.width <= 1 for t in curves)


def test_the_anytime_curve_counts_every_epoch_and_never_goes_down(exp_a):
    c = collect(str(exp_a))
    (line,) = figures.best_by_epochs_spent(c).data
    assert list(line.x) == list(range(1, len(c.epochs) + 1))
    assert all(b >= a for a, b in zip(line.y, line.y[1:])) and line.y[-1] == c.epochs[c.metric].max()

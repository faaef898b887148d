"""benchmarks.accuracy: the figures it reads from the retrained winner's package, and where a kept sweep stands."""
from __future__ import annotations

import json

import pytest

from benchmarks import accuracy

CLASSES = ["dress", "shirt", "t-shirt"]


def package(acc: float, f1: float) -> dict:
    """A package.json's fields that the benchmark reads, as deploy.export --retrain writes them."""
    return {
        "classes": CLASSES,
        "metrics": {
            "test": {"acc": acc, "f1": f1, "balanced_acc": 0.8},
            "test_images": 30,
            "test_per_class": [{"class": c, "f1": f} for c, f in zip(CLASSES, (0.9, 0.6, 0.95))],
            "test_confusion": [[9, 1, 0], [0, 6, 4], [0, 1, 9]],
            "validation": {"epoch": 3, "val_acc": 0.87, "val_f1": 0.85, "val_loss": 0.4},
        },
        "source": {"trial_id": "abc", "params": {"lr": 0.00123456, "data.balance.strategy": "none"},
                   "retrain_epochs": 3, "retrain_images": 3409},
    }


def test_confused_pairs_are_the_most_frequent_mistakes_with_their_share_of_the_true_class():
    pairs = accuracy.confused_pairs([[9, 1, 0], [0, 6, 4], [0, 1, 9]], CLASSES, top=2)
    assert pairs == [{"true": "shirt", "predicted": "t-shirt", "count": 4, "share": 0.4},
                     {"true": "dress", "predicted": "shirt", "count": 1, "share": 0.1}]  # ties: by true class name
    assert accuracy.confused_pairs([[3, 0], [0, 2]], ["a", "b"]) == []  # no mistakes, no pairs


def test_the_target_needs_both_the_accuracy_and_the_macro_f1_of_the_published_resnet():
    met = accuracy.package_figures(package(0.89, 0.86), "efficientnet_lite0")
    assert met["target_met"] and not met["stretch_met"]
    assert met["per_class_f1"] == {"dress": 0.9, "shirt": 0.6, "t-shirt": 0.95}
    assert met["validation"] == {"epoch": 3, "val_acc": 0.87, "val_f1": 0.85}
    assert not accuracy.package_figures(package(0.89, 0.85), "efficientnet_lite0")["target_met"]  # F1 short
    assert not accuracy.package_figures(package(0.88, 0.90), "efficientnet_lite0")["target_met"]  # accuracy short
    assert accuracy.package_figures(package(0.91, 0.90), "efficientnet_lite0")["stretch_met"]


def test_the_section_states_ours_beside_the_published_figures_worst_class_first():
    figures = {**accuracy.package_figures(package(0.8924, 0.8612), "efficientnet_lite0"),
               "sweep": {"trials": 12, "status": {"completed": 4, "early_stopped": 8}, "epochs_trained": 30},
               "sweep_wall_s": 2700, "sweep_was": "absent", "retrain_wall_s": 300}
    text = accuracy.section(figures, "python -m benchmarks.accuracy")
    assert "| **this search: efficientnet_lite0 + EdgeNet** | **89.2%** | **0.861** |" in text
    assert "| ResNet-50 (fine-tuned) (published) | 88.4% | 0.857 |" in text
    assert "| Xception, 299 px (published) | 90.3% |  |" in text
    assert "0.857 macro-F1 (the published ResNet-50, a model five times larger): met" in text
    assert "12 trials: 4 completed, 8 early stopped" in text and "lr=0.00123" in text
    assert text.index("| shirt | 0.600 |") < text.index("| dress | 0.900 |")
    assert "| shirt | t-shirt | 4 | 40% |" in text
    missed = accuracy.section({**figures, "target_met": False}, "c")
    assert ": **missed**" in missed


def test_a_kept_sweep_is_resumed_until_its_sweep_json_says_finished(tmp_path):
    experiment = tmp_path / "sweep"
    assert accuracy.sweep_state(experiment) == "absent"
    experiment.mkdir()
    info = {"started_at": "2026-12-05T02:00:00+00:00", "finished_at": None}
    (experiment / "sweep.json").write_text(json.dumps(info))
    assert accuracy.sweep_state(experiment) == "interrupted"
    (experiment / "sweep.json").write_text(json.dumps({**info, "finished_at": "2026-12-05T02:45:30+00:00"}))
    assert accuracy.sweep_state(experiment) == "finished"
    assert accuracy.sweep_wall_s(experiment) == pytest.approx(2730)

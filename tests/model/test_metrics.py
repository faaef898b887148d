import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from model.metrics import confusion_matrix, per_class_table, summary_metrics


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, size=300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 5, size=300))
    y_pred[y_pred == 4] = 3  # class 4 is never predicted: zero precision, zero-division path
    return y_true, y_pred


def test_confusion_matches_sklearn(predictions):
    y_true, y_pred = predictions
    cm = confusion_matrix(torch.from_numpy(y_true), torch.from_numpy(y_pred), 5)
    assert np.array_equal(cm.numpy(), skm.confusion_matrix(y_true, y_pred, labels=range(5)))


def test_summary_matches_sklearn(predictions):
    y_true, y_pred = predictions
    got = summary_metrics(confusion_matrix(torch.from_numpy(y_true), torch.from_numpy(y_pred), 5))
    assert got["acc"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    for ours, average in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert got[ours] == pytest.approx(average(y_true, y_pred, average="macro", labels=range(5), zero_division=0))
    assert got["balanced_acc"] == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))


def test_per_class_matches_sklearn(predictions):
    y_true, y_pred = predictions
    table = per_class_table(confusion_matrix(torch.from_numpy(y_true), torch.from_numpy(y_pred), 5), list("abcde"))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=range(5), zero_division=0)
    assert [row["class"] for row in table] == list("abcde")
    assert np.allclose([row["precision"] for row in table], p)
    assert np.allclose([row["recall"] for row in table], r)
    assert np.allclose([row["f1"] for row in table], f)
    assert [row["support"] for row in table] == list(s)


def test_empty_confusion_is_zero_not_nan():
    got = summary_metrics(torch.zeros(3, 3, dtype=torch.int64))
    assert got == {"acc": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0, "balanced_acc": 0.0}

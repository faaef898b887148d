"""deploy.calibration: temperature scaling and the expected calibration error, on synthetic logits (no model)."""
from __future__ import annotations

import numpy as np
import pytest

from deploy.calibration import calibrate, expected_calibration_error, fit_temperature, reliability, softmax


def _sampled(temperature: float, n: int = 4000, classes: int = 6, seed: int = 0):
    """Logits whose labels are drawn from softmax(logits / temperature): that temperature is the calibrated one."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, size=(n, classes))
    probs = softmax(logits, temperature)
    labels = np.array([rng.choice(classes, p=p) for p in probs])
    return logits, labels


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_recovers_known_temperature(true_t):
    logits, labels = _sampled(true_t)
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.08)


def test_ece_hand_case():
    # two of 15 bins used: conf 0.9 (bin 13, (13/15, 14/15]) right, right, wrong; conf 0.62 (bin 9) right
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.62, 0.38]])
    labels = np.array([0, 0, 0, 0])
    expected = 3 / 4 * abs(2 / 3 - 0.9) + 1 / 4 * abs(1.0 - 0.62)
    assert expected_calibration_error(probs, labels) == pytest.approx(expected)
    rows = reliability(probs, labels)
    assert len(rows) == 15 and [r["count"] for r in rows if r["count"]] == [1, 3]
    assert rows[13]["lo"] == pytest.approx(13 / 15) and rows[13]["accuracy"] == pytest.approx(2 / 3)
    assert rows[9]["count"] == 1 and rows[9]["confidence"] == pytest.approx(0.62)
    assert rows[0]["confidence"] is None


def test_calibrating_overconfident_logits_lowers_ece_and_keeps_argmax():
    logits, labels = _sampled(3.0)  # raw softmax(logits) is far too confident
    fit = calibrate(logits, labels)
    assert fit["temperature"] == pytest.approx(3.0, rel=0.08)
    assert fit["ece_after"] < fit["ece_before"] / 3 and fit["nll_after"] < fit["nll_before"]
    assert (softmax(logits, fit["temperature"]).argmax(1) == logits.argmax(1)).all()
    assert sum(r["count"] for r in fit["reliability_after"]) == len(labels)

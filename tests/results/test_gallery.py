"""results.gallery: ranking the confused pairs, choosing the photos, and the gallery from a real prepared cache."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from results.collect import collect
from results.gallery import (
    PER_PAIR,
    Predictions,
    best_trial_predictions,
    check_against,
    confirmed_gallery_html,
    confused_pairs,
    gallery_html,
    most_confident_wrong,
    parse_predictions,
    pooled,
)
from tests.results.synthetic import (
    CONFUSIONS,
    default_trials,
    predictions_record,
    write_evaluation,
    write_experiment,
    write_predictions,
)


def _p(true, pred, confidence=None, index=None, split="validation") -> Predictions:
    n = len(true)
    return Predictions(split, np.asarray(index if index is not None else range(n)), np.asarray(true),
                       np.asarray(pred), np.asarray(confidence if confidence is not None else [0.5] * n))


def test_confused_pairs_rank_by_count_then_class_order():
    p = _p(true=[0, 0, 0, 1, 1, 2, 2, 2, 3], pred=[1, 1, 0, 0, 2, 1, 1, 2, 3])
    assert confused_pairs(p) == [(0, 1, 2), (2, 1, 2), (1, 0, 1), (1, 2, 1)]
    assert confused_pairs(p, top=1) == [(0, 1, 2)]
    assert confused_pairs(_p(true=[0, 1], pred=[0, 1])) == []  # nothing wrong, nothing to show


def test_most_confident_wrong_orders_by_confidence_and_bounds_the_count():
    p = _p(true=[0, 0, 0, 0, 1], pred=[1, 1, 1, 0, 0], confidence=[0.4, 0.9, 0.4, 0.99, 0.8],
           index=[10, 11, 12, 13, 14])
    assert most_confident_wrong(p, 0, 1) == [(11, 0.9, 1), (10, 0.4, 1), (12, 0.4, 1)]  # ties: cache order
    assert most_confident_wrong(p, 0, 1, n=1) == [(11, 0.9, 1)]
    assert most_confident_wrong(p, 1, 0) == [(14, 0.8, 1)]
    assert most_confident_wrong(p, 2, 0) == []


def test_pooled_runs_count_over_every_run_and_show_the_photos_wrong_in_the_most_runs_first():
    first = _p(true=[0, 0, 0, 1], pred=[1, 1, 0, 1], confidence=[0.9, 0.6, 0.8, 0.7], index=[10, 11, 12, 13])
    second = _p(true=[0, 0, 0, 1], pred=[0, 1, 0, 0], confidence=[0.8, 0.5, 0.9, 0.6], index=[10, 11, 12, 13])
    both = pooled([first, second])
    assert both.runs == 2 and len(both) == 8 and both.wrong == 4
    assert confused_pairs(both) == [(0, 1, 3), (1, 0, 1)]
    # image 11 is wrong in both runs (mean confidence 0.55): before image 10, wrong once though more confidently
    assert most_confident_wrong(both, 0, 1) == [(11, pytest.approx(0.55), 2), (10, 0.9, 1)]
    assert pooled([]) is None
    with pytest.raises(ValueError, match="different splits"):
        pooled([first, _p(true=[0], pred=[1], split="test")])


def test_parse_predictions_refuses_broken_records():
    good = {"split": "test", "epoch": 3, "index": [0, 1], "true": [0, 1], "pred": [1, 1], "confidence": [0.7, 0.6]}
    p = parse_predictions(good, "x.json")
    assert p.split == "test" and p.epoch == 3 and len(p) == 2 and p.wrong == 1
    with pytest.raises(ValueError, match=r"x.json: predictions lack the column\(s\) pred"):
        parse_predictions({k: v for k, v in good.items() if k != "pred"}, "x.json")
    with pytest.raises(ValueError, match="differ in length"):
        parse_predictions({**good, "true": [0]}, "x.json")
    with pytest.raises(ValueError, match="not numbers"):
        parse_predictions({**good, "true": ["a", "b"]}, "x.json")
    with pytest.raises(ValueError, match="must be a JSON object"):
        parse_predictions([1, 2], "x.json")


def test_predictions_from_another_cache_are_refused(small_cache):
    n = len(small_cache.split("validation"))
    assert check_against(_p(true=[0], pred=[1], index=[n - 1]), small_cache) == ""
    assert f"has {n} images" in check_against(_p(true=[0], pred=[1], index=[n]), small_cache)
    assert "classes" in check_against(_p(true=[0], pred=[len(small_cache.classes)]), small_cache)
    assert "is not validation or test" in check_against(_p(true=[0], pred=[1], split="train"), small_cache)


@pytest.fixture
def predicted_experiment(tmp_path, clothing_root, small_cache):
    """A synthetic experiment on the real small cache whose best trial has validation and test predictions."""
    exp = write_experiment(tmp_path, "exp", default_trials(), clothing_root=str(clothing_root),
                           cache_path=small_cache.path)
    write_evaluation(exp)
    return exp, write_predictions(exp, small_cache)


def test_gallery_shows_each_splits_pairs_with_bounded_thumbnails(predicted_experiment, small_cache):
    exp, records = predicted_experiment
    trial_id, found = best_trial_predictions(collect(str(exp)))
    assert trial_id == "ab12c_00002" and [p.split for p in found] == ["validation", "test"]
    page = gallery_html(collect(str(exp)), small_cache)
    names = small_cache.classes
    assert page.count("<table class='confused-pairs'") == 2
    for split in ("validation", "test"):
        table = re.search(rf"data-split='{split}'>.*?</table>", page).group(0)
        counts = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td class=num>(\d+)</td>", table)
        assert counts == [(names[t], names[q], str(n)) for (t, q), n in CONFUSIONS.items()]
    thumbs = re.findall(r"<img class='thumb' alt='([^']*)' title='([^']*)' src='(data:image/jpeg;base64,[^']+)'>",
                        page)
    assert len(thumbs) == 2 * sum(min(n, PER_PAIR) for n in CONFUSIONS.values())
    first = records["validation"]["true"].index(0)  # the most confident wrong one of the top pair
    assert thumbs[0][0] == f"{names[0]} predicted as {names[1]}"
    assert thumbs[0][1].startswith(small_cache.split("validation").paths[first])
    assert "Validation, epoch 2: 10 of" in page


def test_gallery_without_predictions_says_so(tmp_path, clothing_root, small_cache):
    exp = write_experiment(tmp_path, "exp", default_trials(), clothing_root=str(clothing_root),
                           cache_path=small_cache.path)
    page = gallery_html(collect(str(exp)), small_cache)
    assert "No per-image predictions" in page and "<img" not in page


def test_a_broken_predictions_file_is_left_out_with_a_warning(predicted_experiment, small_cache, caplog):
    exp, _ = predicted_experiment
    best = collect(str(exp)).best_trial()
    (exp / best["checkpoint"] / "predictions.json").write_text(json.dumps({"split": "validation", "index": [1]}))
    _, found = best_trial_predictions(collect(str(exp)))
    assert [p.split for p in found] == ["test"]
    assert "predictions lack the column(s) true, pred, confidence" in caplog.text


def test_the_confirmed_winner_gallery_pools_its_seeds_validation_predictions(tmp_path, clothing_root, small_cache):
    from results.confirm import load_confirmation
    from search.config import load_config
    from search.confirm import plan_confirmation
    from tests.search.test_confirm import write_confirmation

    exp = write_experiment(tmp_path, "exp", default_trials(), clothing_root=str(clothing_root),
                           cache_path=small_cache.path)
    plan = plan_confirmation(collect(str(exp)), load_config(str(exp / "sweep.yaml")), top_k=2, n_seeds=3)
    write_confirmation(exp, plan, {"ab12c_00002": [0.50, 0.52, 0.54], "ab12c_00000": [0.56, 0.60, 0.58]})
    confirmation = load_confirmation(collect(str(exp)))
    assert confirmation.winner() == "ab12c_00000"  # the sweep's runner-up confirms higher
    runs = confirmation.runs.trials.set_index("trial_id")
    labels = small_cache.split("validation").labels.tolist()
    wrong = predictions_record("validation", labels, 2)
    right = {**wrong, "pred": list(labels)}
    for run_id, record in zip(confirmation.sources["ab12c_00000"], (wrong, wrong, right)):
        (exp / "confirm" / runs.loc[run_id, "checkpoint"] / "predictions.json").write_text(json.dumps(record))
    page = confirmed_gallery_html(confirmation, small_cache)
    assert "confirmed winner (sweep trial ab12c_00000), 3 seeds pooled" in page
    total = sum(CONFUSIONS.values())
    assert f"{2 * total} of {3 * len(labels)} predictions wrong (3 runs of {len(labels)} images)" in page
    counts = re.findall(r"<tr><td>[^<]*</td><td>[^<]*</td><td class=num>(\d+)</td>", page)
    assert counts == [str(2 * n) for n in CONFUSIONS.values()]  # over the seeds: two of three got them wrong
    titles = re.findall(r"<img class='thumb' alt='[^']*' title='([^']*)'", page)
    assert len(titles) == sum(min(n, PER_PAIR) for n in CONFUSIONS.values())  # each photo once, not per seed
    assert all(t.endswith("wrong so in 2 of 3 runs") for t in titles), titles[:3]
    # no predictions stored (a replayed confirmation): the gallery says so instead of showing nothing
    for run_id in confirmation.sources["ab12c_00000"]:
        (exp / "confirm" / runs.loc[run_id, "checkpoint"] / "predictions.json").unlink()
    assert "No per-image predictions" in confirmed_gallery_html(confirmation, small_cache)

import math

import pytest
import torch

from core.names import EPOCH_METRICS
from data_pipeline.config import AugmentConfig, BalanceConfig, DataConfig
from model.config import EdgeNetConfig, ModelConfig, RunConfig, TrainConfig
from model.trainer import FitResult, Trainer


def _cfg(epochs=2, model=None, data=None, **train):
    model = model or ModelConfig(backbone="test_vit", image_size=32, dropout=0.1,
                                 edgenet=EdgeNetConfig(mode="residual"))
    train = {"epochs": epochs, "batch_size": 32, "lr": 1e-3, "train_eval_max": 64, "device": "cpu", **train}
    return RunConfig(data=data or DataConfig(), model=model, train=TrainConfig(**train))


def test_fit_reports_every_metric_each_epoch(small_cache):
    seen = []
    trainer = Trainer(_cfg(epochs=2), small_cache)
    result = trainer.fit(on_epoch=seen.append)
    assert isinstance(result, FitResult) and result.status == "completed"
    assert [m["epoch"] for m in seen] == [1, 2] and [m["status"] for m in seen] == ["running", "completed"]
    for m in seen:
        for key in (*EPOCH_METRICS, "lr", "train_loss_running", "epoch_time_s", "images_per_s"):
            assert math.isfinite(m[key]), key
        assert m["epochs_planned"] == 2 and 0 <= m["val_acc"] <= 1
    assert trainer.epoch == 2 and trainer.history == seen == result.history
    assert len(result.final["per_class"]) == len(small_cache.classes)
    assert sum(map(sum, result.final["confusion"])) == len(small_cache.split("validation"))


def test_train_metrics_are_measured_on_a_fixed_subset(small_cache):
    trainer = Trainer(_cfg(epochs=1, train_eval_max=50), small_cache)
    assert len(trainer.train_eval_indices) == 50
    again = Trainer(_cfg(epochs=1, train_eval_max=50), small_cache)
    assert (trainer.train_eval_indices == again.train_eval_indices).all()


def test_evaluate_gives_per_class_and_confusion(small_cache):
    report = Trainer(_cfg(), small_cache).evaluate("test")
    assert report["images"] == len(small_cache.split("test"))
    assert {row["class"] for row in report["per_class"]} == set(small_cache.classes)
    assert len(report["confusion"]) == len(small_cache.classes)
    with pytest.raises(ValueError, match="train, validation, test"):
        Trainer(_cfg(), small_cache).evaluate("holdout")


def test_huge_lr_diverges_without_raising(small_cache):
    seen = []
    trainer = Trainer(_cfg(epochs=3, lr=1e6, grad_clip=None, optimizer="sgd", warmup_epochs=0), small_cache)
    result = trainer.fit(on_epoch=seen.append)
    assert result.status == "diverged" and seen[-1]["status"] == "diverged"
    assert seen[-1]["diverged_reason"]
    assert len(seen) < 3 or seen[-1]["epoch"] == 3
    assert not any(isinstance(v, float) and math.isnan(v) for v in seen[-1].values())


def test_nan_loss_after_a_good_epoch_reports_last_good_metrics(small_cache):
    trainer = Trainer(_cfg(epochs=3), small_cache)
    trainer.step_hook = lambda t, loss: loss * float("nan") if t.epoch == 1 else loss
    result = trainer.fit()
    assert result.status == "diverged" and [h["status"] for h in result.history] == ["running", "diverged"]
    good, bad = result.history
    assert all(bad[k] == good[k] for k in EPOCH_METRICS)
    assert bad["epoch"] == 2


def test_train_fraction_trains_on_a_seeded_share_of_each_class(small_cache):
    full = small_cache.split("train").class_counts(len(small_cache.classes))
    trainer = Trainer(_cfg(epochs=1, data=DataConfig(train_fraction=0.25)), small_cache)
    assert trainer.train_loader.split.class_counts(len(small_cache.classes)).tolist() == [round(n / 4) for n in full]
    assert len(trainer.eval_loaders["validation"].split) == len(small_cache.split("validation"))  # evaluation stays whole


def test_train_metrics_with_a_train_fraction_are_measured_on_the_trained_share(small_cache):
    trainer = Trainer(_cfg(epochs=1, data=DataConfig(train_fraction=0.25), train_eval_max=10_000), small_cache)
    share = trainer.train_loader.split
    assert trainer.eval_loaders["train"].split.paths == share.paths
    assert trainer.evaluate("train")["images"] == len(share) < len(small_cache.split("train"))


def test_class_weighted_loss_uses_the_plan_weights(small_cache):
    data = DataConfig(balance=BalanceConfig(strategy="class_weighted_loss"))
    trainer = Trainer(_cfg(epochs=1, data=data), small_cache)
    assert trainer.loss_weight is not None and trainer.loss_weight.shape == (len(small_cache.classes),)
    assert trainer.fit().status == "completed"


def test_checkpoint_continuation_is_exact(small_cache, tmp_path):
    straight = Trainer(_cfg(epochs=4), small_cache)
    straight.fit()

    first = Trainer(_cfg(epochs=4), small_cache)
    first.fit(on_epoch=lambda m: first.save_checkpoint(str(tmp_path)) if m["epoch"] == 2 else None)
    resumed = Trainer(_cfg(epochs=4), small_cache)
    resumed.load_checkpoint(str(tmp_path))
    assert resumed.epoch == 2 and len(resumed.history) == 2
    result = resumed.fit()

    assert result.status == "completed" and resumed.epoch == 4
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert [h["val_loss"] for h in straight.history] == [h["val_loss"] for h in resumed.history]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "predictions.json"]


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_applies_on_cpu_too(small_cache, channels_last):
    model = ModelConfig(backbone="test_convnext", image_size=32)
    trainer = Trainer(_cfg(epochs=1, model=model, channels_last=channels_last), small_cache)
    assert trainer.device.type == "cpu"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    convs = [m.weight for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert convs and all(w.is_contiguous(memory_format=fmt) for w in convs)
    x, _ = next(iter(trainer.train_loader.iterate(trainer.plan.epoch_indices(0), epoch=0)))
    assert x.is_contiguous(memory_format=fmt)
    assert channels_last or not x.is_contiguous(memory_format=torch.channels_last)
    assert trainer.fit().status == "completed"


def _plain(epochs=1, **train):
    """test_vit with nothing random in a step: no crop, flip, jitter, dropout or EdgeNet."""
    data = DataConfig(augment=AugmentConfig(scale_min=1.0, hflip=False, color_jitter=0.0))
    return _cfg(epochs=epochs, data=data, model=ModelConfig(backbone="test_vit", image_size=32), **train)


def test_accumulating_two_batches_equals_one_twice_as_big(small_cache):
    big = Trainer(_plain(batch_size=32), small_cache)
    accumulated = Trainer(_plain(batch_size=16, accumulate_steps=2), small_cache)
    assert big.steps_per_epoch == accumulated.steps_per_epoch
    big.fit()
    accumulated.fit()
    assert big.optimizer_steps == accumulated.optimizer_steps == big.steps_per_epoch
    for (name, a), b in zip(big.model.state_dict().items(), accumulated.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name


RECIPE = dict(ema_decay=0.99, mixup_alpha=0.2, cutmix_alpha=1.0, label_smoothing=0.1, tta="flip", accumulate_steps=2)
STRONG = DataConfig(augment=AugmentConfig(trivial_augment=True, random_erasing=0.25), train_fraction=0.5,
                    balance=BalanceConfig(strategy="crt", crt_epochs=2))


def _snapshot(trainer, into):
    into.update({k: v.clone() for k, v in trainer.model.state_dict().items()})


def test_crt_retrains_only_a_fresh_head_on_balanced_draws_in_the_last_epochs(small_cache):
    trainer = Trainer(_cfg(epochs=3, data=STRONG, **RECIPE), small_cache)
    assert trainer.head_epochs == 2
    after_first = {}
    trainer.fit(on_epoch=lambda m: _snapshot(trainer, after_first) if m["epoch"] == 1 else None)
    assert trainer.retraining_head and trainer.status == "completed"
    trained = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trained == ["head.weight", "head.bias"]
    assert {id(p) for g in trainer.optimizer.param_groups for p in g["params"]} == \
        {id(p) for p in trainer.model.head.parameters()}
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, after_first[name]) != name.startswith("head."), name  # only the head moved
    assert trainer.head_plan.counts_per_epoch().std() < 1e-9
    assert trainer.evaluated_model is trainer.ema.module
    assert not torch.equal(trainer.ema.module.head.weight, trainer.model.head.weight)


def test_recipe_continuation_is_exact_with_ema_mixup_and_crt(small_cache, tmp_path):
    cfg = _cfg(epochs=3, data=STRONG, model=ModelConfig(backbone="test_vit", image_size=32, drop_path_rate=0.1),
               **RECIPE)
    first = Trainer(cfg, small_cache)
    first.fit(on_epoch=lambda m: first.save_checkpoint(str(tmp_path)) if m["epoch"] == 2 else None)
    resumed = Trainer(cfg, small_cache)
    resumed.load_checkpoint(str(tmp_path))
    assert resumed.retraining_head and resumed.optimizer_steps == first.optimizer_steps * 2 // 3
    resumed.fit()
    assert [h["val_loss"] for h in first.history] == [h["val_loss"] for h in resumed.history]
    for (name, a), b in zip(first.evaluated_model.state_dict().items(), resumed.evaluated_model.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("strategy", ["logit_adjusted", "logit_adjusted_posthoc", "balanced_softmax"])
def test_logit_adjusting_strategies_train_and_measure(small_cache, strategy):
    trainer = Trainer(_cfg(epochs=1, data=DataConfig(balance=BalanceConfig(strategy=strategy, tau=1.0))), small_cache)
    assert (trainer.loss_offset is None) == (strategy == "logit_adjusted_posthoc") != (trainer.eval_offset is None)
    result = trainer.fit()
    assert result.status == "completed" and math.isfinite(result.history[-1]["val_loss"])


def test_the_deployable_model_predicts_as_measured_with_posthoc_adjustment_folded_in(small_cache):
    data = DataConfig(balance=BalanceConfig(strategy="logit_adjusted_posthoc", tau=1.0))
    trainer = Trainer(_cfg(epochs=1, data=data, ema_decay=0.9), small_cache)
    trainer.fit()
    x, _ = next(iter(trainer.eval_loaders["validation"].iterate()))
    with torch.no_grad():
        measured = trainer.evaluated_model.eval()(x) + trainer.eval_offset
        shipped = trainer.deployable_model()(x)
    assert torch.allclose(shipped, measured, atol=1e-5)
    assert not torch.equal(trainer.deployable_model().head.bias, trainer.model.head.bias)


def test_checkpoint_holds_its_epochs_per_image_validation_predictions(small_cache, tmp_path):
    """predictions.json beside checkpoint.pt: one row per validation image, agreeing with the confusion matrix."""
    import json

    import numpy as np

    trainer = Trainer(_cfg(epochs=1), small_cache)
    result = trainer.fit()
    trainer.save_checkpoint(str(tmp_path / "a"))
    saved = json.loads((tmp_path / "a" / "predictions.json").read_text())
    validation = small_cache.split("validation")
    assert saved["split"] == "validation" and saved["epoch"] == 1
    assert saved["index"] == list(range(len(validation)))
    assert saved["true"] == validation.labels.tolist()
    cm = np.zeros((len(small_cache.classes),) * 2, dtype=int)
    np.add.at(cm, (saved["true"], saved["pred"]), 1)
    assert cm.tolist() == result.final["confusion"]
    assert all(1 / len(small_cache.classes) <= c <= 1 for c in saved["confidence"])

    resumed = Trainer(_cfg(epochs=1), small_cache)
    resumed.load_checkpoint(str(tmp_path / "a"))  # a restored trial re-saves the predictions it resumed with
    resumed.save_checkpoint(str(tmp_path / "b"))
    assert json.loads((tmp_path / "b" / "predictions.json").read_text()) == saved


def test_evaluate_can_return_per_image_predictions(small_cache):
    trainer = Trainer(_cfg(), small_cache)
    assert "predictions" not in trainer.evaluate("test")
    report = trainer.evaluate("test", predictions=True)
    predictions = report["predictions"]
    assert predictions["split"] == "test" and predictions["epoch"] == 0
    assert len(predictions["index"]) == len(predictions["pred"]) == report["images"]
    assert predictions["true"] == small_cache.split("test").labels.tolist()
    wrong = sum(t != p for t, p in zip(predictions["true"], predictions["pred"]))
    assert wrong == report["images"] - sum(report["confusion"][k][k] for k in range(len(small_cache.classes)))

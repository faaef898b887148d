import math

import pytest
import torch

from core.names import EPOCH_METRICS
from data_pipeline.config import BalanceConfig, DataConfig
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
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


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

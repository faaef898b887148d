"""The epoch loop: plain PyTorch, called by the CLI, by tests and by the Ray trainable alike.

Per epoch: optimize on balanced, augmented batches; then measure train and validation the same way
(eval mode, no augmentation, no balancing; train on a fixed seeded subset) so the two are comparable.
On CUDA nothing syncs with the host inside an epoch: losses and confusion matrices accumulate on the
device and are read once at the end.

The recipe's options (model/recipe.py, model/mixing.py, model/imbalance.py) plug into three places: the
batch step (mixup / cutmix, logit-adjusted loss, gradient accumulation, the weight average's update), the
measurement (the averaged model, flip TTA, post-hoc logit adjustment) and the epoch's start (cRT switches to
head-only re-training on a class-balanced sampler for the run's last epochs).
"""
from __future__ import annotations

import copy
import logging
import math
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core import atomic
from core.layout import PREDICTIONS_FILE
from core.names import (
    COMPLETED,
    DIVERGED,
    EPOCH,
    EPOCH_METRICS,
    LR,
    RUNNING,
    STATUS,
    TRAIN_ACC,
    TRAIN_LOSS,
    VAL_ACC,
    VAL_BALANCED_ACC,
    VAL_F1,
    VAL_LOSS,
    VAL_PRECISION,
    VAL_RECALL,
)
from data_pipeline.balance import BalancePlan, plan_balance
from data_pipeline.cache import PreparedData, Split
from data_pipeline.loader import BatchLoader
from model import checkpoint as ckpt
from model.classifier import build_model
from model.config import RunConfig
from model.device import resolve_device
from model.finetune import param_groups
from model.imbalance import adjusted_cross_entropy, evaluation_offset, training_offset
from model.metrics import confusion_matrix, per_class_table, summary_metrics
from model.mixing import mix_batch, mixing_enabled
from model.optim import build_optimizer, build_scheduler
from model.recipe import accumulation_share, build_ema, retrain_head_only, steps_per_epoch, tta_logits

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
_VAL_NAMES = {"loss": VAL_LOSS, "acc": VAL_ACC, "precision": VAL_PRECISION, "recall": VAL_RECALL,
              "f1": VAL_F1, "balanced_acc": VAL_BALANCED_ACC}


class TrainerOutOfMemory(RuntimeError):
    """The device ran out of memory; the message names the batch size, the model and how to fit it."""


@dataclass
class FitResult:
    """How a run ended: status (completed | diverged), every epoch's metrics, and the final figures.

    `final` is the last epoch's metrics plus validation `per_class` scores and its `confusion` matrix.
    """

    status: str
    history: list[dict]
    final: dict = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and python's random."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Trains one configuration on a prepared cache; resumable from `save_checkpoint` directories.

    `train_on` names the splits it fits on: the training split (a sweep's trial), or train + validation
    (retraining a sweep's winner before shipping it; validation is then no longer held out).
    """

    def __init__(self, cfg: RunConfig, data: PreparedData, *, device: Optional[str] = None,
                 memory_fraction: Optional[float] = None, train_on: tuple[str, ...] = ("train",)):
        unknown = [name for name in train_on if name not in SPLITS]
        if not train_on or unknown:
            raise ValueError(f"train_on is {train_on!r}, but must name splits of {', '.join(SPLITS)}")
        self.cfg, self.data, self.train_on = cfg, data, tuple(train_on)
        self.device = resolve_device(device or cfg.train.device)
        self.cuda = self.device.type == "cuda"
        if self.cuda:
            self._setup_cuda(memory_fraction)
        seed_everything(cfg.train.seed)
        self.num_classes = len(data.classes)
        self.model = build_model(cfg.model, self.num_classes).to(self.device)
        if cfg.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._build_data()
        self.optimizer = build_optimizer(param_groups(self.model, cfg.train.weight_decay, cfg.model.layer_decay),
                                         cfg.train)
        self.scheduler = build_scheduler(self.optimizer, cfg.train, self.steps_per_epoch)
        self.amp_dtype = _amp_dtype(self.cuda and cfg.train.amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        weights = self.plan.class_weights
        self.loss_weight = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=self.device)
        self._build_recipe()
        self.epoch = 0
        self.history: list[dict] = []
        self.first_batch_ts: Optional[float] = None
        """Wall-clock time (time.time()) this process's first training batch reached the model."""
        self.status = RUNNING
        self._val_confusion: Optional[torch.Tensor] = None
        self._val_predictions: Optional[dict] = None
        """The last measured epoch's per-image validation predictions (`predictions_record`); saved with each
        checkpoint, so the checkpoint Ray keeps as best holds its own epoch's predictions."""
        self.step_hook: Optional[Callable[[Trainer, torch.Tensor], torch.Tensor]] = None
        """Called after each batch (its backward pass, and the optimizer step it ends) with the trainer and the
        batch's loss; returns the loss to record. The public seam for instrumentation and for tests' faults
        (an out-of-memory error, a NaN loss)."""

    def _setup_cuda(self, memory_fraction: Optional[float]) -> None:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        if memory_fraction is not None:
            torch.cuda.set_per_process_memory_fraction(memory_fraction, self.device)

    def _build_recipe(self) -> None:
        """The weight average, the plan's logit offsets and cRT's phase (docs/model.md, docs/data.md)."""
        cfg = self.cfg.train
        self.loss_offset = training_offset(self.plan, self.device)
        self.eval_offset = evaluation_offset(self.plan, self.device)
        self.ema = build_ema(self.model, cfg.ema_decay) if cfg.ema_decay is not None else None
        self.optimizer_steps = 0
        self.head_epochs = min(self.plan.head_retrain_epochs, cfg.epochs - 1)
        """cRT: how many of the last epochs re-train only the head (0: none)."""
        self.head_plan: Optional[BalancePlan] = None
        """cRT's class-balanced draws, once its phase has started."""
        self.retraining_head = False

    def _build_data(self) -> None:
        cfg, dc = self.cfg, self.model.data_config
        fitted = Split.joined("train", [self.data.split(name) for name in self.train_on])
        train = fitted.share(cfg.data.train_fraction, cfg.data.seed)
        self.plan = plan_balance(train.labels, self.num_classes, cfg.data.balance, cfg.train.seed)
        common = dict(device=self.device, mean=dc["mean"], std=dc["std"], out_size=dc["input_size"][-1],
                      channels_last=cfg.train.channels_last)
        self.train_loader = BatchLoader(train, batch_size=cfg.train.batch_size, augment=cfg.data.augment,
                                        seed=cfg.train.seed, **common)
        # Train metrics are measured on the share that is trained on, not on the whole training split.
        measured = {"train": train, **{name: self.data.split(name) for name in SPLITS if name != "train"}}
        self.eval_loaders = {name: BatchLoader(split, batch_size=2 * cfg.train.batch_size, **common)
                             for name, split in measured.items()}
        self.train_eval_indices = _fixed_subset(len(train), cfg.train.train_eval_max, cfg.train.seed)
        self.steps_per_epoch = steps_per_epoch(len(self.plan.epoch_indices(0)), cfg.train.batch_size,
                                               cfg.train.accumulate_steps)

    # ---- training -------------------------------------------------------------------------------

    def fit(self, on_epoch: Optional[Callable[[dict], None]] = None) -> FitResult:
        """Train from `self.epoch` to `cfg.train.epochs`, calling `on_epoch(metrics)` after each epoch."""
        while self.status == RUNNING and self.epoch < self.cfg.train.epochs:
            try:
                metrics = self._run_epoch()
            except torch.OutOfMemoryError as err:
                raise self._out_of_memory(err) from err
            if on_epoch is not None:
                on_epoch(dict(metrics))
        return FitResult(self.status, list(self.history), self._final())

    def _out_of_memory(self, err: torch.OutOfMemoryError) -> TrainerOutOfMemory:
        """Free what the failed step held and say which setting to lower (the cause stays chained)."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.cuda:
            torch.cuda.empty_cache()
        m, t = self.cfg.model, self.cfg.train
        cause = (str(err).strip().splitlines() or ["OutOfMemoryError"])[0][:200]
        return TrainerOutOfMemory(
            f"out of memory on {self.device} in epoch {self.epoch + 1} with batch_size={t.batch_size} "
            f"(evaluation batches {2 * t.batch_size}), model {m.backbone} at {self.model.data_config['input_size'][-1]} px: "
            f"lower train.batch_size (or the search.space.batch_size choices) or give each trial more GPU "
            f"(resources.gpu); {cause}")

    def _run_epoch(self) -> dict:
        start = time.perf_counter()
        running_loss, seen = self._train_epoch()
        train_s = time.perf_counter() - start
        measured = self._measure_epoch() if math.isfinite(running_loss) else {}
        reason = _divergence(running_loss, measured)
        self.epoch += 1
        if reason:
            metrics = self._diverged_metrics(reason)
        else:
            self.status = COMPLETED if self.epoch >= self.cfg.train.epochs else RUNNING
            metrics = {EPOCH: self.epoch, STATUS: self.status, **measured, "train_loss_running": running_loss}
        metrics.update({EPOCH: self.epoch, LR: max(self.scheduler.get_last_lr()),
                        "epoch_time_s": time.perf_counter() - start,
                        "images_per_s": seen / train_s if train_s > 0 else 0.0,
                        "epochs_planned": self.cfg.train.epochs, "first_batch_ts": self.first_batch_ts})
        self.history.append(metrics)
        log.info("epoch %d/%d %s", self.epoch, self.cfg.train.epochs,
                 " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float)))
        return metrics

    def _train_epoch(self) -> tuple[float, int]:
        """One pass of optimization; returns the mean optimization loss (one host sync) and images seen."""
        if self.head_epochs and not self.retraining_head and self.epoch >= self.cfg.train.epochs - self.head_epochs:
            self._start_head_retraining()
        self._train_mode()
        loss_sum = torch.zeros((), dtype=torch.float32, device=self.device)
        seen = 0
        t = self.cfg.train
        indices = (self.head_plan or self.plan).epoch_indices(self.epoch)
        mixes = torch.Generator().manual_seed(t.seed * 7919 + self.epoch)  # mixup draws: one stream per epoch
        self.optimizer.zero_grad(set_to_none=True)
        for batch, (x, y) in enumerate(self.train_loader.iterate(indices, epoch=self.epoch)):
            if self.first_batch_ts is None:
                self.first_batch_ts = time.time()
            share, ends_step = accumulation_share(batch, len(indices), t.batch_size, t.accumulate_steps)
            loss = self._backward(x, y, share, mixes)
            if ends_step:
                self._optimizer_step()
            if self.step_hook is not None:
                loss = self.step_hook(self, loss)
            loss_sum += loss.detach() * y.shape[0]
            seen += y.shape[0]
        return float(loss_sum.item()) / max(seen, 1), seen

    def _backward(self, x: torch.Tensor, y: torch.Tensor, share: float, mixes: torch.Generator) -> torch.Tensor:
        """Add this batch's gradient, weighted by its share of the optimizer step; return its mean loss."""
        target: torch.Tensor = y
        if mixing_enabled(self.cfg.train):
            x, target = mix_batch(x, y, self.num_classes, self.cfg.train, mixes)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            logits = self.model(x)
        loss = adjusted_cross_entropy(logits.float(), target, self.loss_offset, self.loss_weight,
                                      self.cfg.train.label_smoothing)
        self.scaler.scale(loss * share).backward()
        return loss

    def _optimizer_step(self) -> None:
        if self.cfg.train.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                           self.cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.optimizer_steps += 1
        if self.ema is not None:
            self.ema.update(self.model, step=self.optimizer_steps)

    def _train_mode(self) -> None:
        """Training mode; while cRT re-trains the head, the frozen layers keep their batch-norm statistics."""
        self.model.train()
        if self.retraining_head:
            for module in (self.model.edgenet, self.model.backbone):
                if module is not None:
                    module.eval()

    def _start_head_retraining(self) -> None:
        """cRT (Kang et al., 2020): a fresh head, the rest frozen, a fresh optimizer and schedule, balanced draws."""
        retrain_head_only(self.model)
        self.head_plan = self.plan.head_retrain_plan()
        head_train = replace(self.cfg.train, epochs=self.head_epochs, warmup_epochs=0.0)
        self.optimizer = build_optimizer(param_groups(self.model, head_train.weight_decay), head_train)
        self.scheduler = build_scheduler(self.optimizer, head_train, self.steps_per_epoch)
        if self.ema is not None:
            self.ema.set(self.model)
        self.retraining_head = True
        log.info("cRT: re-training only the head for the last %d epochs on a class-balanced sampler", self.head_epochs)

    # ---- measuring ------------------------------------------------------------------------------

    def _measure_epoch(self) -> dict:
        train_loss, train_cm, _ = self._measure("train", self.train_eval_indices)
        val_loss, val_cm, predictions = self._measure("validation", keep_predictions=True)
        self._val_confusion = val_cm
        self._val_predictions = {**predictions, "epoch": self.epoch + 1}
        val = {"loss": val_loss, **summary_metrics(val_cm)}
        return {TRAIN_LOSS: train_loss, TRAIN_ACC: summary_metrics(train_cm)["acc"],
                **{_VAL_NAMES[k]: v for k, v in val.items()}}

    @property
    def evaluated_model(self) -> nn.Module:
        """The network that measurements use and a checkpoint's `ema` holds: the weight average when on."""
        return self.ema.module if self.ema is not None else self.model

    def deployable_model(self) -> nn.Module:
        """A copy of `evaluated_model` that predicts as measured: post-hoc logit adjustment is folded into the
        head's bias (exact). Flip TTA is not: a shipped model predicts on one view."""
        model = copy.deepcopy(self.evaluated_model).eval()
        if self.eval_offset is not None:
            with torch.no_grad():
                model.head.bias.add_(self.eval_offset.to(model.head.bias.dtype))
        return model

    @torch.no_grad()
    def _measure(self, split: str, indices: Optional[np.ndarray] = None,
                 keep_predictions: bool = False) -> tuple[float, torch.Tensor, Optional[dict]]:
        """Mean cross-entropy (unweighted, unsmoothed), confusion matrix and, when asked, the per-image
        predictions (`predictions_record`); eval mode, no augmentation.

        Logits are those of `evaluated_model`, flip-averaged under `train.tta`, post-hoc adjusted if planned.
        """
        model = self.evaluated_model.eval()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        cm = torch.zeros((self.num_classes, self.num_classes), dtype=torch.int64, device=self.device)
        kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # on the device until the end
        for x, y in self.eval_loaders[split].iterate(indices):
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                logits = tta_logits(model, x, self.cfg.train.tta)
            if self.eval_offset is not None:
                logits = logits + self.eval_offset
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            confidence, predicted = logits.float().softmax(dim=1).max(dim=1)
            cm += confusion_matrix(y, predicted, self.num_classes)
            if keep_predictions:
                kept.append((y, predicted, confidence))
        cm = cm.cpu()
        total = int(cm.sum())
        predictions = None
        if keep_predictions:
            order = np.arange(total) if indices is None else np.asarray(indices)
            columns = [torch.cat(c).cpu() for c in zip(*kept)] if kept else [torch.zeros(0)] * 3
            predictions = predictions_record(split, order, *columns)
        return (float(loss_sum.item()) / total if total else float("nan")), cm, predictions

    def evaluate(self, split: str = "test", predictions: bool = False) -> dict:
        """loss, acc, precision, recall, f1, balanced_acc (macro) + per_class + confusion on `split`;
        with `predictions`, also each image's (`predictions_record`, the report's gallery reads them)."""
        if split not in SPLITS:
            raise ValueError(f"split is {split!r}, but must be one of {', '.join(SPLITS)}")
        loss, cm, per_image = self._measure(split, keep_predictions=predictions)
        extra = {"predictions": {**per_image, "epoch": self.epoch}} if per_image is not None else {}
        return {"split": split, "images": int(cm.sum()), "loss": loss, **summary_metrics(cm),
                "per_class": per_class_table(cm, self.data.classes), "confusion": cm.tolist(), **extra}

    def _diverged_metrics(self, reason: str) -> dict:
        """The last good epoch's figures; before any good epoch, the worst values (inf loss, 0 scores)."""
        self.status = DIVERGED
        last = next((h for h in reversed(self.history) if h[STATUS] != DIVERGED), None)
        keys = (*EPOCH_METRICS, "train_loss_running")
        if last is not None:
            values = {k: last[k] for k in keys}
        else:
            values = {k: (math.inf if k.endswith("loss") or k == "train_loss_running" else 0.0) for k in keys}
        log.warning("run diverged at epoch %d: %s", self.epoch, reason)
        return {STATUS: DIVERGED, **values, "diverged_reason": reason}

    def _final(self) -> dict:
        if not self.history:
            return {}
        final = dict(self.history[-1])
        if self._val_confusion is not None:
            final["per_class"] = per_class_table(self._val_confusion, self.data.classes)
            final["confusion"] = self._val_confusion.tolist()
        return final

    # ---- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self, directory: str) -> None:
        """Write directory/checkpoint.pt (model, optimizer, scheduler, scaler, epoch, RNG states, history) and,
        once an epoch was measured, directory/predictions.json: that epoch's per-image validation predictions,
        a small file that `results` reads without torch."""
        if self._val_predictions is not None:
            atomic.write_json(Path(directory) / PREDICTIONS_FILE, self._val_predictions)
        ckpt.save(directory, {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "epoch": self.epoch, "status": self.status, "history": self.history, "rng": ckpt.rng_state(),
            "val_confusion": self._val_confusion, "val_predictions": self._val_predictions,
            "classes": list(self.data.classes),
            "ema": None if self.ema is None else self.ema.module.state_dict(), "optimizer_steps": self.optimizer_steps,
        })

    def load_checkpoint(self, directory: str) -> None:
        """Restore everything `save_checkpoint` wrote; the next `fit` continues where that run stopped."""
        state = ckpt.load(directory, map_location="cpu")
        if state["classes"] != list(self.data.classes):
            raise ValueError(f"{directory}: checkpoint classes {state['classes']} differ from the data's {list(self.data.classes)}")
        if self.head_epochs and state["epoch"] > self.cfg.train.epochs - self.head_epochs:
            self._start_head_retraining()  # the saved optimizer and schedule are the head's
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.module.load_state_dict(state["ema"])
        self.optimizer_steps = state.get("optimizer_steps", 0)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.status, self.history = state["epoch"], state["status"], list(state["history"])
        self._val_confusion = state["val_confusion"]
        self._val_predictions = state.get("val_predictions")
        if self._val_confusion is not None:
            self._val_confusion = self._val_confusion.cpu()
        ckpt.set_rng_state(state["rng"])


def predictions_record(split: str, index: np.ndarray, true: torch.Tensor, predicted: torch.Tensor,
                       confidence: torch.Tensor) -> dict:
    """Per-image predictions as plain JSON columns (core.layout.PREDICTIONS_FILE): `index` into the prepared
    cache's `split`, `true` and `pred` class indices, `confidence` (softmax probability of `pred`, 4 digits)."""
    return {"split": split, "index": [int(i) for i in index], "true": [int(v) for v in true.tolist()],
            "pred": [int(v) for v in predicted.tolist()],
            "confidence": [round(float(v), 4) for v in confidence.tolist()]}


def _amp_dtype(enabled: bool) -> Optional[torch.dtype]:
    if not enabled:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _fixed_subset(n: int, limit: Optional[int], seed: int) -> Optional[np.ndarray]:
    """A fixed, seeded, sorted subset of at most `limit` of n indices (None: all of them)."""
    if limit is None or n <= limit:
        return None
    return np.sort(np.random.default_rng([seed, 1]).choice(n, size=limit, replace=False))


def _divergence(running_loss: float, measured: dict) -> str:
    """Why the epoch counts as diverged, or '' when every loss is finite."""
    if not math.isfinite(running_loss):
        return f"training loss became {running_loss}"
    bad = [k for k in (TRAIN_LOSS, VAL_LOSS) if not math.isfinite(measured.get(k, math.nan))]
    return f"{', '.join(bad)} became non-finite" if bad else ""

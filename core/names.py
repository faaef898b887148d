"""Metric names, defined once: the trainer reports them, the scheduler and searcher read them, tables show them."""

TRAIN_LOSS = "train_loss"
TRAIN_ACC = "train_acc"
VAL_LOSS = "val_loss"
VAL_ACC = "val_acc"
VAL_PRECISION = "val_precision"
VAL_RECALL = "val_recall"
VAL_F1 = "val_f1"
VAL_BALANCED_ACC = "val_balanced_acc"
EPOCH = "epoch"
LR = "lr"
STATUS = "status"
"""Per-run status reported with every epoch: running | completed | diverged."""

EPOCH_METRICS: tuple[str, ...] = (
    TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, VAL_PRECISION, VAL_RECALL, VAL_F1, VAL_BALANCED_ACC,
)
"""Reported after every epoch, measured the same way for train and validation (eval mode, no augmentation)."""

LATENCY_MS = "latency_ms"
"""Inference ms per image at batch 1 (eval mode, after warm-up, on the trial's own device)."""
LATENCY_BATCH_MS = "latency_batch_ms"
"""Inference ms per image at the serving batch (SERVING_BATCH)."""
SERVING_BATCH = 32
"""The batch a catalogue service classifies at once (the second latency figure)."""
PARAMS_M = "params_m"
"""Parameter count of the classifier, in millions."""
COST_METRICS: tuple[str, ...] = (LATENCY_MS, LATENCY_BATCH_MS, PARAMS_M)
"""Measured once at a trial's end when the sweep searches speed too (smaller is better)."""

MODE_OF: dict[str, str] = {**{name: ("min" if name.endswith("loss") else "max") for name in EPOCH_METRICS},
                           **{name: "min" for name in COST_METRICS}}
"""Whether larger (max) or smaller (min) is better, per metric."""

RUNNING, COMPLETED, EARLY_STOPPED, DIVERGED, TIMED_OUT, FAILED = (
    "running", "completed", "early_stopped", "diverged", "timed_out", "failed")
TRIAL_STATUSES: tuple[str, ...] = (COMPLETED, EARLY_STOPPED, DIVERGED, TIMED_OUT, FAILED, RUNNING)
"""A trial's fate, as `trial_status.json` and the tables record it."""
FINAL_STATUSES = frozenset({COMPLETED, EARLY_STOPPED, DIVERGED, TIMED_OUT, FAILED})


def final_status(*, recorded: str | None = None, trainer_status: str | None = None, errored: bool = False,
                 epochs_run: int = 0, epochs_planned: int | None = None, time_total_s: float = 0.0,
                 timeout_s: float | None = None, ended: bool = True) -> str:
    """How a trial ended, from what is known about it: the one rule the sweep's recorder and the tables share.

    `recorded` is a status the driver already wrote (it wins when final); `trainer_status` the trainer's
    last report; `ended` whether the trial (or the whole sweep) is over, so a trial that stopped short is
    early-stopped rather than still running.
    """
    if recorded in FINAL_STATUSES:
        return recorded
    if errored:
        return FAILED
    if trainer_status in (COMPLETED, DIVERGED):
        return trainer_status
    if trainer_status == TIMED_OUT or (timeout_s and time_total_s >= timeout_s):
        return TIMED_OUT  # the watchdog's report counts as an iteration: check before the epoch count
    if epochs_run == 0:
        return FAILED if ended else RUNNING
    if epochs_planned is not None and epochs_run >= epochs_planned:
        return COMPLETED
    return EARLY_STOPPED if ended else RUNNING

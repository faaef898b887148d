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

MODE_OF: dict[str, str] = {name: ("min" if name.endswith("loss") else "max") for name in EPOCH_METRICS}
"""Whether larger (max) or smaller (min) is better, per metric."""

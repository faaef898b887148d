"""Fault injection for tests, in one place behind one switch: `EDGETUNE_FAULTS`.

Production code carries no test branches; the trainable calls this module at two seams, `arm` once its
trainer exists and `after_report` after each epoch's report, and both do nothing unless the variable is
set. It holds `;`-separated faults, each `kind:key=value`:

    oom:batch_size=128      trials with this batch size raise torch.OutOfMemoryError in their first step
                            (a CUDA OOM on a CPU machine), through the trainer's public `step_hook`
    hang:batch_size=64      trials with this batch size block in one long call in their first step, before
                            any report: only the time-limit watchdog can end them
    fail_once:epoch=1       every trial raises once after reporting this epoch (a marker file in the trial
                            folder makes it once, so the retry from the checkpoint goes through)

    EDGETUNE_FAULTS="oom:batch_size=128;hang:batch_size=64" python -m search.run ...
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional

ENV = "EDGETUNE_FAULTS"
KINDS = {"oom": "batch_size", "hang": "batch_size", "fail_once": "epoch"}
"""Each fault and the one number it is keyed on."""


@dataclass(frozen=True)
class Fault:
    kind: str
    at: int


def parse(spec: str) -> tuple[Fault, ...]:
    """`"oom:batch_size=128;fail_once:epoch=1"` -> the faults; ValueError naming the bad part."""
    faults = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        kind, _, assignment = part.partition(":")
        key, _, value = assignment.partition("=")
        if kind not in KINDS or key != KINDS[kind] or not value.strip().lstrip("-").isdigit():
            wanted = "; ".join(f"{k}:{v}=N" for k, v in KINDS.items())
            raise ValueError(f"{ENV} part {part!r} is not one of: {wanted}")
        faults.append(Fault(kind, int(value)))
    return tuple(faults)


def active(environ: Mapping[str, str] = os.environ) -> tuple[Fault, ...]:
    return parse(environ.get(ENV, ""))


def arm(trainer: Any, batch_size: int, faults: Optional[tuple[Fault, ...]] = None) -> None:
    """Seam 1, once the trial's trainer exists: an `oom` or `hang` fault for this batch size hooks its first step."""
    faults = active() if faults is None else faults
    if any(f.kind == "oom" and f.at == batch_size for f in faults):
        import torch

        def out_of_memory(trainer: Any, loss: Any) -> Any:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 GiB (simulated by {ENV})")

        trainer.step_hook = out_of_memory
    if any(f.kind == "hang" and f.at == batch_size for f in faults):
        def hang(trainer: Any, loss: Any) -> Any:
            time.sleep(10**6)  # one call blocked in C, as a stuck collective or data read would be

        trainer.step_hook = hang


def after_report(metrics: Mapping[str, Any], batch_size: int, trial_dir: str,
                 faults: Optional[tuple[Fault, ...]] = None) -> None:
    """Seam 2, after each epoch's report: `fail_once` raises once at its epoch."""
    faults = active() if faults is None else faults
    epoch = metrics.get("epoch")
    for fault in faults:
        if fault.kind == "fail_once" and epoch == fault.at:
            marker = os.path.join(trial_dir, ".failed_once")
            if not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError(f"injected failure after epoch {fault.at} ({ENV})")

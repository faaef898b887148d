"""Run real sweeps for the benchmarks: `python -m search.run` in a subprocess, timed, then read back.

Every sweep benchmark runs the smoke config (configs/smoke.yaml, a tiny ViT) at a reduced scale (SCALE) so that
`make bench` finishes in under an hour on two cores; the scale is printed with the figures.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from results.collect import Collected, collect

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "clothing-small"
CONFIG = ROOT / "configs" / "smoke.yaml"
SCALE = {"data.max_per_class": 40}
"""400 training photos at 64 px (the smoke config uses 150 per class): about 5 s per epoch on one core."""


@dataclass(frozen=True)
class Sweep:
    """One finished benchmark sweep."""

    name: str
    started: float
    """time.time() when the command was started."""
    wall_s: float
    collected: Collected
    epochs: list[dict]
    """Every epoch every trial reported (epochs.jsonl), in the order the driver received them."""

    @property
    def epochs_trained(self) -> int:
        return len(self.epochs)

    def best(self, metric: str = "val_f1") -> float:
        return max((row[metric] for row in self.epochs if row.get(metric) is not None), default=float("nan"))


def run_sweep(storage: Path, name: str, *args: str, settings: dict | None = None, cache_dir: Path | None = None,
              config: Path = CONFIG, scale: dict | None = None) -> Sweep:
    """Run one sweep of `config` (the smoke config at SCALE unless given) with `args` and `--set` `settings`; its
    output goes to storage/name.log."""
    scale = SCALE if scale is None else scale
    settings = {**scale, "data.cache_dir": str(cache_dir or ROOT / ".cache" / "data"), **(settings or {})}
    cmd = [sys.executable, "-m", "search.run", "--space", str(config), "--data", str(DATA), "--storage", str(storage),
           "--name", name, "--no-report", *args]
    for key, value in settings.items():
        cmd += ["--set", f"{key}={value}"]
    storage.mkdir(parents=True, exist_ok=True)
    log = storage / f"{name}.log"
    started = time.time()
    with log.open("w") as out:
        done = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    wall = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"sweep {name} failed (exit {done.returncode}); see {log}")
    experiment = storage / name
    epochs = [json.loads(line) for line in (experiment / "epochs.jsonl").read_text().splitlines()]
    return Sweep(name=name, started=started, wall_s=wall, collected=collect(str(experiment)), epochs=epochs)


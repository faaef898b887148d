"""An experiment on disk: the folder Ray Tune writes, plus the sweep's own files (search/layout.py)."""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from data_pipeline.schema import ConfigError, with_overrides
from data_pipeline.cache import PreparedData
from search.config import ExperimentConfig, resolve_param
from search.layout import SWEEP_CONFIG, SWEEP_INFO



@dataclass(frozen=True)
class Experiment:
    """Where one sweep is stored."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def locate(cls, storage: str, name: Optional[str], space: Optional[str] = None) -> "Experiment":
        """The experiment to resume: `storage/name`, else the newest one made from the `space` config."""
        root = Path(storage).resolve()
        if name:
            path = root / name
        else:
            stem = Path(space).stem if space else ""
            candidates = sorted((p for p in root.glob(f"{stem}*") if (p / SWEEP_CONFIG).is_file()),
                                key=lambda p: p.stat().st_mtime) if root.is_dir() else []
            if not candidates:
                raise ConfigError("--resume", str(root), "found no experiment there to resume (pass --storage and --name)")
            path = candidates[-1]
        if not (path / SWEEP_CONFIG).is_file():
            raise ConfigError("--resume", str(path), f"is not an experiment folder (no {SWEEP_CONFIG})")
        return cls(path)


def absolute_paths(cfg: ExperimentConfig) -> ExperimentConfig:
    """Local paths made absolute: trials run in their own working directories, possibly on other nodes."""
    def absolute(value: Optional[str]) -> Optional[str]:
        if not value or "://" in value:
            return value
        return str(Path(value).expanduser().resolve())

    overrides = {"data.source": absolute(cfg.data.source), "data.manifest": absolute(cfg.data.manifest),
                 "data.cache_dir": absolute(cfg.data.cache_dir), "storage.path": absolute(cfg.storage.path)}
    if isinstance(cfg.model.pretrained, str):
        overrides["model.pretrained"] = absolute(cfg.model.pretrained)
    return with_overrides(cfg, overrides, source="paths")


def write_sweep_info(path: Path, cfg: ExperimentConfig, data: PreparedData, *, finished: bool) -> None:
    """`sweep.json`: what the results module needs to read the experiment without the config classes."""
    info_path = path / SWEEP_INFO
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    info.update(
        name=path.name, metric=cfg.search.metric, mode=cfg.search.metric_mode, max_epochs=cfg.max_epochs,
        cache_path=data.path, classes=list(data.classes), resources={"cpu": cfg.resources.cpu, "gpu": cfg.resources.gpu},
        param_paths={name: resolve_param(name) for name in cfg.search.space},
        scheduler=cfg.search.scheduler.type, sampler=cfg.search.sampler.type,
        num_samples=cfg.search.num_samples,
    )
    info.setdefault("started_at", now)
    info["finished_at"] = now if finished else None
    tmp = info_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, info_path)

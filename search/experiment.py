"""An experiment in its storage (a folder or an s3:// / gs:// URI): what Ray Tune writes plus the sweep's own files
(core/layout.py)."""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import pyarrow.fs as pafs
import yaml

from core import atomic, folders
from core.layout import STUDY_FILE, SWEEP_CONFIG, SWEEP_INFO, TRIAL_CONFIG, folder_name_problem
from core.schema import ConfigError, to_mapping, with_overrides
from core.uri import check_no_credentials, is_uri, join, open_location, without_query
from data_pipeline.cache import PreparedData
from model.config import RunConfig
from search.config import ExperimentConfig, resolve_param

logger = logging.getLogger(__name__)


MIRROR_ROOT = folders.sweep_mirror()
"""Where the driver keeps its files of a sweep stored at a URI (per user: the study file of a resumed
sweep is found by location, not by this path; search.searcher.StudyFile)."""
DRIVER_FILES = (SWEEP_CONFIG, SWEEP_INFO, STUDY_FILE)
"""The sweep's own files a resumed driver needs back (Ray brings back its own state and the trial status)."""


_write_failures: list[str] = []


def guarded_write(what: str, on_failure: Any = None) -> Callable:
    """For the driver's writes inside Tune (callbacks, searcher): an OSError (a full disk) is recorded and
    logged, and `on_failure` returned, instead of ending `tuner.fit()` for the whole sweep with a traceback.
    search.run ends the sweep with one line naming the first failure (`write_failures`)."""
    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except OSError as err:
                reason = f"{what}: {err.strerror or str(err).splitlines()[0]}"
                if reason not in _write_failures:
                    logger.error("error: could not write %s; the sweep stops starting trials", reason)
                _write_failures.append(reason)
                return on_failure
        return guarded
    return decorate


def write_failures() -> tuple[str, ...]:
    """What the driver could not write in this process so far (first failure first)."""
    return tuple(dict.fromkeys(_write_failures))


def clear_write_failures() -> None:
    """A new sweep in this process starts with none (search.run, and tests)."""
    _write_failures.clear()


@dataclass(frozen=True)
class Experiment:
    """Where one sweep is stored.

    `location` is `<storage>/<name>`: a folder, or a URI such as s3://bucket/prefix/name?endpoint_override=...
    `path` is the local folder where the driver writes the sweep's own files (config, sweep info, Optuna
    study, report): the experiment folder itself on local storage; for a URI a mirror under MIRROR_ROOT,
    sent up with `upload` as the sweep goes and brought back with `download` when it resumes.
    """

    location: str

    @classmethod
    def create(cls, storage: str, name: str) -> Experiment:
        check_no_credentials("--storage", storage)
        problem = folder_name_problem(name)
        if problem:
            raise ConfigError("storage.name (--name)", name, problem)
        return cls(join(storage, name) if is_uri(storage) else str(Path(storage).expanduser().resolve() / name))

    @property
    def remote(self) -> bool:
        return is_uri(self.location)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def path(self) -> Path:
        if not self.remote:
            return Path(self.location)
        split = urlsplit(self.location)
        return MIRROR_ROOT / split.scheme / split.netloc.rpartition("@")[2] / split.path.strip("/")  # never credentials

    def exists(self) -> bool:
        """True when something is already stored at this experiment's location (or in its local mirror)."""
        if self.remote:
            filesystem, root = self.filesystem()
            return filesystem.get_file_info(root).type != pafs.FileType.NotFound
        return self.path.exists() and any(self.path.iterdir())

    def drop_stale_mirror(self) -> None:
        """For a new sweep at a URI: remove the driver's local mirror left by an earlier sweep of the same
        location whose stored copy is gone; its study journal would otherwise merge into the new study."""
        if self.remote and self.path.exists() and MIRROR_ROOT in self.path.parents:
            logger.warning("warning: removing %s, a stale local copy of an earlier sweep at %s", self.path,
                           without_query(self.location))
            shutil.rmtree(self.path)

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """The experiment's filesystem and its folder on it."""
        return open_location(self.location)

    def upload(self, *names: str) -> None:
        """Send files (or folders) of `path` to the experiment's storage; nothing to do on local storage."""
        if not self.remote:
            return
        filesystem, root = self.filesystem()
        for name in names:
            if (self.path / name).exists():
                pafs.copy_files(str(self.path / name), f"{root}/{name}", source_filesystem=pafs.LocalFileSystem(),
                                destination_filesystem=filesystem)

    def download(self) -> None:
        """Bring the driver's files back from the experiment's storage into `path`.

        A local copy newer than the stored one is kept (its upload failed: the next upload sends it),
        and each file is replaced only once it has fully arrived.
        """
        if not self.remote:
            return
        filesystem, root = self.filesystem()
        self.path.mkdir(parents=True, exist_ok=True)
        for name in DRIVER_FILES:
            stored, local = filesystem.get_file_info(f"{root}/{name}"), self.path / name
            if stored.type != pafs.FileType.File:
                continue
            if local.is_file() and stored.mtime_ns and local.stat().st_mtime_ns >= stored.mtime_ns:
                continue
            partial = atomic.temporary_beside(local)
            pafs.copy_files(f"{root}/{name}", str(partial), source_filesystem=filesystem,
                            destination_filesystem=pafs.LocalFileSystem())
            os.replace(partial, local)

    def try_upload(self, *names: str) -> bool:
        """`upload`, with a failure logged as a warning instead of raised: for uploads that a later one repeats."""
        try:
            self.upload(*names)
        except OSError as err:
            logger.warning("warning: could not upload %s to %s (%s); they are in %s, and the next upload "
                           "(or --resume) sends them", ", ".join(names), without_query(self.location),
                           str(err).splitlines()[0], self.path)
            return False
        return True

    @classmethod
    def locate(cls, storage: str, name: Optional[str], space: Optional[str] = None) -> Experiment:
        """The experiment to resume: `storage/name`, else the newest one made from the `space` config."""
        try:
            experiment = cls.create(storage, name) if name else cls._newest(storage, Path(space).stem if space else "")
            experiment.download()
        except ConfigError:
            raise
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise ConfigError("--storage", without_query(storage), f"cannot be read ({err})") from None
        if not (experiment.path / SWEEP_CONFIG).is_file():
            raise ConfigError("--resume", without_query(experiment.location),
                              f"is not an experiment folder (no {SWEEP_CONFIG})")
        return experiment

    @classmethod
    def _newest(cls, storage: str, stem: str) -> Experiment:
        filesystem, root = open_location(storage if is_uri(storage) else str(Path(storage).expanduser().resolve()))
        folders = filesystem.get_file_info(pafs.FileSelector(root, allow_not_found=True))
        configs = filesystem.get_file_info([f"{f.path}/{SWEEP_CONFIG}" for f in folders
                                            if f.type == pafs.FileType.Directory and f.base_name.startswith(stem)])
        found = sorted((c for c in configs if c.type == pafs.FileType.File), key=lambda c: c.mtime_ns or 0)
        if not found:
            raise ConfigError("--resume", without_query(storage), "found no experiment there to resume "
                              "(pass --storage and --name)")
        return cls.create(storage, PurePosixPath(found[-1].path).parent.name)


def absolute_paths(cfg: ExperimentConfig) -> ExperimentConfig:
    """Local paths made absolute: trials run in their own working directories, possibly on other nodes."""
    def absolute(value: Optional[str]) -> Optional[str]:
        if not value or "://" in value:
            return value
        return str(Path(value).expanduser().resolve())

    overrides = {"data.source": absolute(cfg.data.source), "data.manifest": absolute(cfg.data.manifest),
                 "data.cache_dir": absolute(cfg.data.cache_dir), "storage.path": absolute(cfg.storage.path), "replay.table": absolute(cfg.replay.table)}
    if isinstance(cfg.model.pretrained, str):
        overrides["model.pretrained"] = absolute(cfg.model.pretrained)
    return with_overrides(cfg, overrides, source="paths")


def write_trial_config(trial_dir: Path, run: RunConfig) -> Path:
    """`trial_config.yaml`: the trial's training config exactly as it runs, beside its results.

    The driver writes it into the trial's folder as the trial starts; Tune uploads that folder with the
    trial's result.json, and `results` reads it back (what ran is written once, never re-derived).
    """
    return atomic.write_text(trial_dir / TRIAL_CONFIG, yaml.safe_dump(to_mapping(run), sort_keys=False))


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
    atomic.write_json(info_path, info, indent=1)

"""The sweep's config tree: data / model / train (owned by their packages) plus search, resources, storage.

`load_config` is the one loader: YAML -> typed frozen tree, every rule checked before any work starts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Union

from core.names import COST_METRICS, EPOCH_METRICS, MODE_OF
from core.schema import ConfigError, check, from_mapping, load_yaml, with_overrides
from core.uri import check_no_credentials
from data_pipeline.config import DataConfig
from model.config import ModelConfig, RunConfig, TrainConfig
from search.replay import ReplayConfig

PARAM_ALIASES: dict[str, str] = {
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "weight_decay": "train.weight_decay",
    "optimizer": "train.optimizer",
    "momentum": "train.momentum",
    "label_smoothing": "train.label_smoothing",
    "dropout": "model.dropout",
    "backbone": "model.backbone",
    "edgenet": "model.edgenet.mode",
    "train_last_blocks": "model.train_last_blocks",
    "balance": "data.balance.strategy",
    "image_size": "model.image_size",
}
"""Short names for the searched fields; any other dotted path into the tree (`train.warmup_epochs`) works too."""


def resolve_param(name: str) -> str:
    """The dotted config path a search-space key stands for."""
    return PARAM_ALIASES.get(name, name)


@dataclass(frozen=True)
class ParamSpec:
    """One searched dimension: int / float (uniform or log) or categorical, optionally conditional."""

    type: Literal["float", "int", "categorical"]
    low: Optional[Union[int, float]] = None
    high: Optional[Union[int, float]] = None
    log: bool = False
    step: Optional[Union[int, float]] = None
    choices: tuple[Any, ...] = ()
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    """Sample this only when each named parameter took one of the listed values (e.g. momentum when optimizer is sgd)."""

    def __post_init__(self) -> None:
        if self.type == "categorical":
            check(len(self.choices) >= 1, "choices", list(self.choices), "must list at least one value")
            check(self.low is None and self.high is None, "low", self.low, "is only for int and float parameters")
            return
        check(self.low is not None, "low", self.low, f"is required for a {self.type} parameter")
        check(self.high is not None, "high", self.high, f"is required for a {self.type} parameter")
        check(not self.choices, "choices", list(self.choices), "is only for categorical parameters")
        check(math.isfinite(self.low) and math.isfinite(self.high), "low", self.low, "and high must be finite")
        check(self.low < self.high, "low", self.low, f"must be < high ({self.high})")
        if self.log:
            check(self.low > 0, "low", self.low, "must be > 0 for a log scale")
            check(self.step is None, "step", self.step, "cannot be combined with log: true")
        if self.type == "int":
            check(float(self.low).is_integer(), "low", self.low, "must be a whole number for an int parameter")
            check(float(self.high).is_integer(), "high", self.high, "must be a whole number for an int parameter")
        if self.step is not None:
            check(self.step > 0, "step", self.step, "must be > 0")

    @property
    def largest(self) -> Any:
        return max(self.choices) if self.type == "categorical" else self.high

    def candidate_values(self) -> tuple[Any, ...]:
        """Values that must be valid for the field (choices, or both bounds)."""
        if self.type == "categorical":
            return self.choices
        cast = int if self.type == "int" else float
        return (cast(self.low), cast(self.high))


@dataclass(frozen=True)
class SamplerConfig:
    """Which Optuna sampler proposes trials."""

    type: Literal["tpe", "random"] = "tpe"
    seed: int = 0
    n_startup_trials: Optional[int] = None
    """Random trials before TPE models the space; at least the concurrency (default: max(10, concurrency))."""
    multivariate: bool = True
    """TPE models parameters jointly (and handles conditional ones by group)."""
    prune_stopped: bool = True
    """Tell Optuna that trials ASHA stopped early were PRUNED (with their intermediate values), not COMPLETE."""
    history: Optional[int] = 1000
    """TPE models only the most recent `history` finished trials (and every running one): a TPE suggestion costs
    time in proportion to the trials it models (hundreds of ms at 10,000 trials), a window keeps it flat. Null: all."""

    def __post_init__(self) -> None:
        if self.n_startup_trials is not None:
            check(self.n_startup_trials >= 1, "n_startup_trials", self.n_startup_trials, "must be >= 1")
        if self.history is not None:
            check(self.history >= max(self.n_startup_trials or 10, 10), "history", self.history,
                  "must be >= n_startup_trials (and >= 10), or TPE never leaves its random start-up")


@dataclass(frozen=True)
class SchedulerConfig:
    """Early stopping: ASHA (time unit: the epoch, max_t: the largest epoch count of the space) or FIFO."""

    type: Literal["asha", "fifo"] = "asha"
    grace_period: int = 1
    """Epochs every trial runs before it can be stopped."""
    reduction_factor: float = 3.0

    def __post_init__(self) -> None:
        check(self.grace_period >= 1, "grace_period", self.grace_period, "must be >= 1")
        check(self.reduction_factor > 1, "reduction_factor", self.reduction_factor, "must be > 1")


@dataclass(frozen=True)
class SearchConfig:
    """The search: space, sampler, scheduler, objective and budget."""

    space: Mapping[str, ParamSpec] = field(default_factory=dict)
    metric: str = "val_f1"
    mode: Optional[Literal["max", "min"]] = None
    """max or min; None takes the metric's natural direction."""
    objectives: tuple[str, ...] = ()
    """Cost objectives searched beside `metric` (latency_ms, latency_batch_ms, params_m; all minimized): the
    Optuna study becomes multi-objective, ASHA still stops trials on `metric` alone."""
    num_samples: int = 16
    max_concurrent: int = 2
    max_failures: int = 2
    """Retries of a trial that raised, each from its last checkpoint, before it is marked failed."""
    trial_timeout_s: Optional[float] = None
    """Wall-clock limit per trial; a trial past it is stopped and marked."""
    points_to_evaluate: tuple[Mapping[str, Any], ...] = ()
    """Known-good configurations (search-space keys -> values) run first, e.g. the study's four."""
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)

    def __post_init__(self) -> None:
        check(len(self.space) >= 1, "space", {}, "must define at least one searched parameter")
        check(self.metric in EPOCH_METRICS, "metric", self.metric, f"must be a metric the trainer reports: {', '.join(EPOCH_METRICS)}")
        for name in self.objectives:
            check(name in COST_METRICS, "objectives", name, f"must be a cost the trial measures: {', '.join(COST_METRICS)}")
        check(len(set(self.objectives)) == len(self.objectives), "objectives", list(self.objectives), "must not repeat a name")
        check(self.num_samples >= 1, "num_samples", self.num_samples, "must be >= 1")
        check(self.max_concurrent >= 1, "max_concurrent", self.max_concurrent, "must be >= 1")
        check(self.max_failures >= 0, "max_failures", self.max_failures, "must be >= 0")
        if self.trial_timeout_s is not None:
            check(self.trial_timeout_s > 0, "trial_timeout_s", self.trial_timeout_s, "must be > 0 or null")

    @property
    def metric_mode(self) -> str:
        return self.mode or MODE_OF[self.metric]

    @property
    def objective_modes(self) -> dict[str, str]:
        """Every objective of the study, the metric first, with its direction."""
        return {self.metric: self.metric_mode, **{name: MODE_OF[name] for name in self.objectives}}


@dataclass(frozen=True)
class ResourcesConfig:
    """What each trial reserves on the cluster."""

    cpu: float = 1.0
    gpu: float = 0.0
    """GPUs per trial: a fraction that divides 1 (0.5, 0.25, ...) or a whole number; its CUDA memory is capped to it."""

    def __post_init__(self) -> None:
        check(self.cpu > 0, "cpu", self.cpu, "must be > 0")
        check(self.gpu >= 0, "gpu", self.gpu, "must be >= 0")
        if 0 < self.gpu < 1:
            share = 1 / self.gpu
            check(abs(share - round(share)) < 1e-9, "gpu", self.gpu, "must divide 1 (0.5, 0.25, 0.125, ...) so trials pack a card exactly")
        elif self.gpu >= 1:
            check(float(self.gpu).is_integer(), "gpu", self.gpu, "must be a whole number when >= 1")


@dataclass(frozen=True)
class StorageConfig:
    """Where the experiment (results, checkpoints, Optuna study, report) is stored."""

    path: str = "experiments"
    """A folder, or a pyarrow filesystem URI (s3://bucket/prefix, gs://bucket/prefix; an S3-compatible
    server's options in the query: ?endpoint_override=host:port&scheme=http). On a multi-node cluster a URI,
    or a folder every node mounts (then set `shared: true`)."""
    name: Optional[str] = None
    """Experiment name; None derives one from the config file name and the time."""
    shared: bool = False
    """True when `path` (and data.cache_dir) is a filesystem every node mounts (NFS); on a multi-node
    cluster a local path is refused otherwise, since Ray no longer syncs results to the head node."""

    def __post_init__(self) -> None:
        check_no_credentials("path", self.path)


TRACKING_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")
"""MLflow tracking URI schemes a sweep accepts (a local database, a folder, a tracking server, a managed one)."""


@dataclass(frozen=True)
class TrackingConfig:
    """Optional experiment tracking beside the sweep's own files (docs/search.md, Tracking)."""

    mlflow: str = ""
    """An MLflow tracking URI (sqlite:///path/mlflow.db, http://host:5000, ...): the sweep is a parent run there,
    each trial a nested run with its parameters, per-epoch metrics and final status. Empty: no tracking."""

    def __post_init__(self) -> None:
        if not self.mlflow:
            return
        scheme = self.mlflow.split(":", 1)[0].split("+", 1)[0].lower() if ":" in self.mlflow else ""
        check(scheme in TRACKING_SCHEMES, "mlflow", self.mlflow,
              f"must be an MLflow tracking URI with a scheme of {', '.join(TRACKING_SCHEMES)} "
              "(e.g. sqlite:///experiments/mlflow.db or http://127.0.0.1:5000)")
        check_no_credentials("mlflow", self.mlflow)


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """The whole tree of one sweep."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    """Replay recorded learning curves instead of training (search.replay)."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """Optional MLflow tracking of the sweep and its trials (search.tracking)."""

    def __post_init__(self) -> None:
        run = self.run_config
        for name, spec in self.search.space.items():
            _check_searchable(run, name, spec)
        for name in (k for spec in self.search.space.values() for k in spec.when):
            if name not in self.search.space:
                raise ConfigError(f"search.space.{name}", rule="is named in a `when` condition but is not searched")
        for i, point in enumerate(self.search.points_to_evaluate):
            for name in point:
                check(name in self.search.space, f"search.points_to_evaluate[{i}].{name}", point[name], "must be a key of search.space")
        _check_backbones(self)
        max_epochs = self.max_epochs
        if self.search.scheduler.type == "asha":
            check(self.search.scheduler.grace_period <= max_epochs, "search.scheduler.grace_period",
                  self.search.scheduler.grace_period, f"must be <= the largest epoch count ({max_epochs})")

    @property
    def run_config(self) -> RunConfig:
        return RunConfig(data=self.data, model=self.model, train=self.train)

    @property
    def max_epochs(self) -> int:
        """The largest epoch count any trial can run: ASHA's max_t."""
        spec = next((s for k, s in self.search.space.items() if resolve_param(k) == "train.epochs"), None)
        return int(spec.largest) if spec else self.train.epochs


def _check_searchable(run: RunConfig, name: str, spec: ParamSpec) -> None:
    path = resolve_param(name)
    for value in spec.candidate_values():
        try:
            with_overrides(run, {path: value})
        except ConfigError as err:
            if err.rule == "is not a field of the config":
                raise ConfigError(f"search.space.{name}", rule=
                                  f"is not a searchable field: use one of {', '.join(PARAM_ALIASES)} or a dotted field path (train.lr)") from None
            raise ConfigError(f"search.space.{name}", value, f"is not valid for {path}: {err.rule}") from None


def _check_backbones(cfg: ExperimentConfig) -> None:
    """Every backbone the sweep can build is a preset or a timm name (checked before any work starts)."""
    from model.presets import resolve_backbone

    named = [("model.backbone", cfg.model.backbone)]
    named += [(f"search.space.{k}", choice) for k, spec in cfg.search.space.items()
              if resolve_param(k) == "model.backbone" for choice in spec.choices]
    for field_path, name in named:
        try:
            resolve_backbone(name)
        except ConfigError as err:
            raise ConfigError(field_path, name, err.rule) from None


def load_config(path: str, overrides: Optional[Mapping[str, Any]] = None) -> ExperimentConfig:
    """Read and validate a sweep config; `overrides` (dotted paths) are applied and validated too."""
    tree = from_mapping(ExperimentConfig, load_yaml(path), source=str(path))
    return with_overrides(tree, overrides, source=str(path)) if overrides else tree

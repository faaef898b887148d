"""What Optuna is told: trials the scheduler stopped early are PRUNED with their per-epoch values (no cluster needed)."""
import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from core.schema import ConfigError
from search.config import SamplerConfig, load_config
from search.experiment import Experiment
from search.searcher import (
    ORPHANED,
    PruneAwareOptunaSearch,
    StudyWindow,
    make_sampler,
    make_searcher,
    open_study_storage,
)
from search.space import define_by_run

optuna.logging.set_verbosity(optuna.logging.WARNING)


def epoch(i: int, f1: float, status: str) -> dict:
    return {"training_iteration": i, "val_f1": f1, "status": status}


def run_trial(searcher, trial_id: str, values: list[float], last_status: str) -> None:
    """Feed results the way Tune does: the result on which a scheduler stops a trial goes only to
    on_trial_complete; a trial that ends on its own gets on_trial_result for its last epoch too."""
    searcher.suggest(trial_id)
    stopped = last_status == "running"
    for i, value in enumerate(values, start=1):
        if i < len(values) or not stopped:
            searcher.on_trial_result(trial_id, epoch(i, value, last_status if i == len(values) else "running"))
    searcher.on_trial_complete(trial_id, epoch(len(values), values[-1], last_status))


def searcher_of(cls, **kwargs):
    space = load_config("configs/smoke.yaml").search.space
    return cls(space=define_by_run(space), metric="val_f1", mode="max", seed=0, **kwargs)


def test_stopped_and_diverged_trials_are_pruned_with_intermediate_values():
    searcher = searcher_of(PruneAwareOptunaSearch)
    run_trial(searcher, "stopped", [0.2, 0.3], last_status="running")   # ASHA stopped it at epoch 2 of its 6
    run_trial(searcher, "finished", [0.2, 0.4, 0.5], last_status="completed")
    run_trial(searcher, "diverged", [0.1], last_status="diverged")
    searcher.suggest("broken")
    searcher.on_trial_complete("broken", None, error=True)
    trials = {t.user_attrs.get("ray_trial_id"): t for t in searcher._ot_study.get_trials(deepcopy=False)}
    assert trials["stopped"].state == TrialState.PRUNED
    assert trials["stopped"].intermediate_values == {1: 0.2, 2: 0.3}
    assert trials["finished"].state == TrialState.COMPLETE and trials["finished"].value == 0.5
    assert trials["diverged"].state == TrialState.PRUNED and trials["diverged"].user_attrs["status"] == "diverged"
    assert trials["broken"].state == TrialState.FAIL


def test_rays_own_searcher_would_call_the_stopped_trial_complete():
    """The trap this project works around (design brief, trap 1): keep this test to notice if Ray fixes it."""
    searcher = searcher_of(OptunaSearch)
    run_trial(searcher, "stopped", [0.2, 0.3], last_status="running")
    (trial,) = searcher._ot_study.get_trials(deepcopy=False)
    assert trial.state == TrialState.COMPLETE and trial.value == 0.3


def test_turning_pruning_off_reproduces_the_default():
    searcher = searcher_of(PruneAwareOptunaSearch, prune_stopped=False)
    run_trial(searcher, "stopped", [0.2, 0.3], last_status="running")
    (trial,) = searcher._ot_study.get_trials(deepcopy=False)
    assert trial.state == TrialState.COMPLETE


@pytest.mark.parametrize("concurrency, startup, expected", [(2, None, 10), (16, None, 16), (8, 4, 8), (2, 20, 20)])
def test_tpe_starts_with_at_least_as_many_random_trials_as_slots(concurrency, startup, expected):
    sampler = make_sampler(SamplerConfig(n_startup_trials=startup), concurrency)
    assert sampler._n_startup_trials == expected


X = optuna.distributions.FloatDistribution(0.0, 1.0)


def study_of(xs: list[float], running: int = 0) -> optuna.Study:
    """A study of finished trials at `xs` (value = x, so TPE's good region is the high xs) and `running` open ones."""
    study = optuna.create_study(direction="maximize")
    study.add_trials([optuna.trial.create_trial(params={"x": x}, distributions={"x": X}, value=x) for x in xs])
    for _ in range(running):
        study.ask()
    return study


def test_the_window_keeps_the_most_recent_finished_trials_and_every_running_one():
    study = study_of([0.1 * i for i in range(10)], running=2)
    kept = StudyWindow(study, 4)._get_trials(deepcopy=False)
    assert [t.number for t in kept] == [6, 7, 8, 9, 10, 11]
    assert len(StudyWindow(study, 50)._get_trials(deepcopy=False)) == 12


def suggestion(history, xs: list[float]) -> float:
    study = study_of(xs)
    study.sampler = make_sampler(SamplerConfig(n_startup_trials=10, history=history, seed=3), 1)
    return study.ask().suggest_float("x", 0.0, 1.0)


def test_windowed_tpe_suggests_from_the_recent_trials_only():
    recent = [0.05 * i for i in range(20)]
    assert suggestion(20, [0.9] * 30 + recent) == suggestion(20, [0.1] * 30 + recent)
    assert suggestion(None, [0.9] * 30 + recent) != suggestion(None, [0.1] * 30 + recent)


def test_a_window_smaller_than_the_start_up_is_refused():
    with pytest.raises(ConfigError, match="history is 5, but must be >= n_startup_trials"):
        SamplerConfig(n_startup_trials=8, history=5)


def test_study_is_stored_in_the_experiment_and_known_points_run_first(tmp_path):
    cfg = load_config("configs/smoke.yaml")
    searcher = make_searcher(cfg, Experiment(str(tmp_path / "exp")))
    first = searcher.suggest("t0")
    assert first == dict(cfg.search.points_to_evaluate[0])
    study = optuna.load_study(study_name="exp", storage=open_study_storage(tmp_path / "exp"))
    assert len(study.trials) == 1 and (tmp_path / "exp" / "optuna.journal").is_file()


def test_a_resumed_searcher_skips_trials_the_study_already_closed(tmp_path):
    """Killed between the study's write and Tune's snapshot: the restored searcher must not tell twice."""
    import pickle

    cfg = load_config("configs/smoke.yaml")
    searcher = make_searcher(cfg, Experiment(str(tmp_path / "exp")))
    searcher.suggest("t0")
    searcher.on_trial_result("t0", epoch(1, 0.2, "running"))
    snapshot = pickle.dumps(searcher.__dict__)           # Tune's last experiment snapshot
    searcher.on_trial_result("t0", epoch(2, 0.3, "completed"))
    searcher.on_trial_complete("t0", epoch(2, 0.3, "completed"))
    restored = PruneAwareOptunaSearch.__new__(PruneAwareOptunaSearch)
    restored.__dict__.update(pickle.loads(snapshot))    # what Tuner.restore does
    restored.on_trial_result("t0", epoch(2, 0.3, "completed"))
    restored.on_trial_complete("t0", epoch(2, 0.3, "completed"))
    (trial,) = restored._ot_study.get_trials(deepcopy=False)
    assert trial.state == TrialState.COMPLETE and trial.value == 0.3


def test_a_resumed_searcher_fails_the_trial_a_killed_driver_asked_after_its_last_snapshot(tmp_path):
    """Tune snapshots the searcher, the driver asks Optuna for one more trial and is killed: on resume that
    trial has no Ray trial and is asked again, so the orphan is marked FAIL instead of RUNNING for ever."""
    cfg = load_config("configs/smoke.yaml")
    searcher = make_searcher(cfg, Experiment(str(tmp_path / "exp")))
    searcher.suggest("t0")
    searcher.save(str(tmp_path / "searcher.pkl"))        # Tune's last experiment snapshot
    searcher.suggest("t1")                               # asked, then SIGKILL before the next snapshot
    restored = PruneAwareOptunaSearch.__new__(PruneAwareOptunaSearch)
    restored.restore(str(tmp_path / "searcher.pkl"))     # what Tuner.restore does
    study = optuna.load_study(study_name="exp", storage=open_study_storage(tmp_path / "exp"))
    assert [(t.state, t.user_attrs.get("status")) for t in study.trials] == [
        (TrialState.RUNNING, None), (TrialState.FAIL, ORPHANED)]  # t0 still runs: Tune resumes it
    restored.suggest("t1")
    assert len(restored._ot_study.trials) == 3


def test_a_resumed_trial_the_searchers_snapshot_never_saw_is_recorded_with_the_parameters_it_runs(tmp_path):
    """Tune's trial list can be newer than the searcher's saved state (on S3 the two upload apart): Tune resumes
    a trial the restored searcher never asked for. Its results reach the study as a new trial, not a KeyError."""
    cfg = load_config("configs/smoke.yaml")
    searcher = make_searcher(cfg, Experiment(str(tmp_path / "exp")))
    searcher.suggest("t0")
    searcher.save(str(tmp_path / "searcher.pkl"))
    params = searcher.suggest("t1")                      # in Tune's snapshot, not in the searcher's
    restored = PruneAwareOptunaSearch.__new__(PruneAwareOptunaSearch)
    restored.restore(str(tmp_path / "searcher.pkl"))     # t1's own Optuna trial is failed as an orphan
    config = {f"config/{name}": value for name, value in params.items()}
    restored.on_trial_result("t1", {**epoch(1, 0.3, "running"), **config})
    restored.on_trial_complete("t1", {**epoch(2, 0.4, "completed"), **config})
    study = optuna.load_study(study_name="exp", storage=open_study_storage(tmp_path / "exp"))
    adopted = next(t for t in study.trials if t.user_attrs.get("ray_trial_id") == "t1")
    assert adopted.state == TrialState.COMPLETE and adopted.value == 0.4 and adopted.intermediate_values == {1: 0.3}
    assert adopted.params == params
    assert [t.user_attrs.get("status") for t in study.trials if t.state == TrialState.FAIL] == [ORPHANED]
    restored.on_trial_complete("t9", None, error=True)   # unknown and nothing to adopt it by: left out, no error
    assert len(restored._ot_study.trials) == 3


def test_a_study_on_a_uri_is_unpickled_onto_this_machines_mirror(tmp_path, monkeypatch):
    """Ray pickles the searcher; a driver resuming elsewhere (another user, another temp dir) must open
    its own mirror of the journal, not the path the first driver had."""
    import pickle

    import search.experiment as experiment_module

    location = "s3://bucket/sweeps/exp?endpoint_override=127.0.0.1:9&scheme=http"
    monkeypatch.setattr(experiment_module, "MIRROR_ROOT", tmp_path / "first")
    (tmp_path / "first" / "s3" / "bucket" / "sweeps" / "exp").mkdir(parents=True)
    searcher = make_searcher(load_config("configs/smoke.yaml"), Experiment(location))
    searcher.suggest("t0")
    state = pickle.dumps(searcher.__dict__)
    monkeypatch.setattr(experiment_module, "MIRROR_ROOT", tmp_path / "second")
    second = tmp_path / "second" / "s3" / "bucket" / "sweeps" / "exp"
    second.mkdir(parents=True)
    (second / "optuna.journal").write_bytes((tmp_path / "first" / second.relative_to(tmp_path / "second") / "optuna.journal").read_bytes())
    restored = PruneAwareOptunaSearch.__new__(PruneAwareOptunaSearch)
    restored.__dict__.update(pickle.loads(state))
    restored.on_trial_complete("t0", epoch(1, 0.25, "completed"))
    study = optuna.load_study(study_name="exp", storage=open_study_storage(second))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]


def test_a_killed_drivers_journal_is_repaired_when_the_sweep_resumes(tmp_path):
    """After a SIGKILL the journal can keep Optuna's lock and a torn last line: reopening the study must neither
    wait out the lock nor glue the next write onto the torn line (the study would be unreadable)."""
    from optuna.storages import JournalStorage

    from search.searcher import StudyFile

    location = str(tmp_path / "exp")
    study = optuna.create_study(study_name="exp", storage=JournalStorage(StudyFile(location)), direction="maximize")
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
    journal = tmp_path / "exp" / "optuna.journal"
    with journal.open("ab") as f:
        f.write(b'{"op_code": 4, "worker_id": "x", "tri')  # cut short by the kill
    (tmp_path / "exp" / "optuna.journal.lock").symlink_to(journal)
    resumed = optuna.load_study(study_name="exp", storage=JournalStorage(StudyFile(location)))
    resumed.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.7))
    again = optuna.load_study(study_name="exp", storage=open_study_storage(tmp_path / "exp"))
    assert [t.value for t in again.trials] == [0.5, 0.7]
    assert not (tmp_path / "exp" / "optuna.journal.lock").exists()


def test_a_latency_objective_makes_a_multi_objective_study_whose_stopped_trials_are_pruned(tmp_path):
    cfg = load_config("configs/smoke.yaml", {"search.objectives": ["latency_ms"], "search.points_to_evaluate": []})
    assert cfg.search.objective_modes == {"val_f1": "max", "latency_ms": "min"}
    searcher = make_searcher(cfg, Experiment(str(tmp_path / "exp")))
    for trial_id, values, status in (("stopped", [0.2, 0.3], "running"), ("finished", [0.2, 0.5], "completed")):
        searcher.suggest(trial_id)
        for i, value in enumerate(values, start=1):
            searcher.on_trial_result(trial_id, {**epoch(i, value, status), "latency_ms": 2.5})
        searcher.on_trial_complete(trial_id, {**epoch(len(values), values[-1], status), "latency_ms": 2.5})
    study = optuna.load_study(study_name="exp", storage=open_study_storage(tmp_path / "exp"))
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = {t.user_attrs.get("ray_trial_id"): t for t in study.trials}
    assert trials["stopped"].state == TrialState.PRUNED
    assert trials["finished"].state == TrialState.COMPLETE and trials["finished"].values == [0.5, 2.5]

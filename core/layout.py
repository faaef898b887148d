"""File names of an experiment folder, defined once: search writes them, results reads them.

    <storage>/<name>/
        sweep.yaml          the config exactly as it ran (search.config.load_config reads it)
        sweep.json          metric, mode, cache path, classes, resources, parameter paths, times
        optuna.journal      the Optuna study (optuna-dashboard opens it)
        trial_status.json   each trial's fate: completed | early_stopped | diverged | timed_out | failed
        epochs.jsonl        every epoch every trial reported, appended by the driver
        <trial folders>     Ray Tune's: params.json, result.json, progress.csv, checkpoint_*/, and
                            trial_config.yaml: the training config the trial ran, exactly (written by the driver)
        report/             tables and report.html written at the end of the sweep
        results/            trials.parquet, epochs.parquet (results.collect), evaluation.json (deploy.evaluate)
"""

SWEEP_CONFIG = "sweep.yaml"
SWEEP_INFO = "sweep.json"
STUDY_FILE = "optuna.journal"
STATUS_FILE = "trial_status.json"
EPOCHS_FILE = "epochs.jsonl"
REPORT_DIR = "report"
TRIAL_CONFIG = "trial_config.yaml"
RESULTS_DIR = "results"
EVALUATION_FILE = "evaluation.json"

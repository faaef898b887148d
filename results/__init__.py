"""results: an experiment directory -> trials / epochs tables, the study's tables, test evaluation, HTML report.

Reads files only (local paths or s3:// URIs), never Ray. Entry points:

    results.collect.collect(experiment) -> Collected            python -m results.collect EXP
    results.tables.leaderboard(collected, top=5) -> DataFrame
    results.evaluate.evaluate_experiment(experiment, top_k)       python -m results.evaluate EXP --top-k K
    results.report.write_report(experiments, out_dir) -> Path     python -m results.report EXP ... --out DIR

See docs/results.md.
"""

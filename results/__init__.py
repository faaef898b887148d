"""results: an experiment directory -> trials / epochs tables, the study's tables, HTML report.

A read-only leaf: reads files only (local paths or s3:// URIs), never Ray, never torch; nothing of the
project imports it but `search` (the summary at the end of a sweep) and `deploy`. Entry points:

    results.collect.collect(experiment) -> Collected            python -m results.collect EXP
    results.tables.leaderboard(collected, top=5) -> DataFrame
    results.confirm.load_confirmation(collected) -> Confirmation  (EXP/confirm/, written by search.confirm)
    results.report.write_report(experiments, out_dir) -> Path     python -m results.report EXP ... --out DIR

Test-set evaluation and export (which train and load models) live in `deploy`; see docs/results.md.
"""
